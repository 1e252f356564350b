// Pure parts of what trials and sweeps log: params, names, tags, the summary table, and the plots' pixels.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { summaryCsv, summaryMarkdown, type SweepSummaryRow } from '../../src/tracking/sweep-summary.js';
import { dcignVersion, flattenParams, standardTags, trialRunName } from '../../src/tracking/trial-logging.js';
import { niceTicks, plotLossCurves, plotMetricVsBeta, renderPlot } from '../../src/viz/plot.js';

test('flattenParams joins nested keys with dots and keeps arrays as JSON', (t) => {
  const params = flattenParams({
    dataset: 'dsprites',
    seed: 1,
    model: { variant: 'beta-vae', beta: 4, latentSize: 10, encoderKernels: [4, 4, 2, 2], capacity: undefined, dcign: { clamp: 'mean' } },
    adam: { beta1: 0.9 },
    flag: true,
  });
  t.deepEqual(params, {
    dataset: 'dsprites',
    seed: '1',
    'model.variant': 'beta-vae',
    'model.beta': '4',
    'model.latentSize': '10',
    'model.encoderKernels': '[4,4,2,2]',
    'model.dcign.clamp': 'mean',
    'adam.beta1': '0.9',
    flag: 'true',
  });
});

test('run names read like beta=4 z=10 seed=1', (t) => {
  t.is(trialRunName({ beta: 4, latentSize: 10, seed: 1 }), 'beta=4 z=10 seed=1');
  t.is(trialRunName({ variant: 'dcign', beta: 1, latentSize: 200, seed: 3, extra: { r: 2 } }), 'dcign beta=1 z=200 seed=3 r=2');
});

test('standard tags carry version, commit, sweep, Temporal ids, backend and device', (t) => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  t.is(dcignVersion(), pkg.version);
  const tags = standardTags({
    runName: 'beta=4 z=10 seed=1',
    sweepName: 'dsprites-beta',
    trialKey: 'b4-z10-s1',
    workflowId: 'sweep/dsprites-beta/b4-z10-s1',
    workflowRunId: 'run-1',
    backend: 'tensorflow',
    device: 'cpu',
    replicas: 2,
  });
  t.like(tags, {
    'mlflow.runName': 'beta=4 z=10 seed=1',
    'dcign.version': pkg.version,
    'dcign.sweep': 'dsprites-beta',
    'dcign.trial': 'b4-z10-s1',
    'temporal.workflowId': 'sweep/dsprites-beta/b4-z10-s1',
    'temporal.runId': 'run-1',
    'dcign.backend': 'tensorflow',
    'dcign.device': 'cpu',
    'dcign.replicas': '2',
  });
  t.regex(tags['mlflow.source.git.commit'] ?? '', /^[0-9a-f]{40}$/);
});

const rows: SweepSummaryRow[] = [];
for (const z of [6, 10])
  for (const beta of [1, 4, 16])
    for (const seed of [1, 2])
      rows.push({ trialKey: `b${beta}-z${z}-s${seed}`, runId: `r${beta}${z}${seed}`, beta, latentSize: z, seed, status: 'COMPLETED', metrics: { mig: beta / 100 + seed / 1000, 'sap score': z / 100 } });

test('summary CSV has a row per trial and a column per metric', (t) => {
  const csv = summaryCsv(rows).trim().split('\n');
  t.is(csv[0], 'trial,run_id,beta,latent_size,seed,status,mig,sap score');
  t.is(csv.length, 1 + rows.length);
  t.is(csv[1], 'b1-z6-s1,r161,1,6,1,COMPLETED,0.011,0.06');
});

test('summary markdown groups seeds with mean ± std and stays under the tag limit', (t) => {
  const md = summaryMarkdown('dsprites-beta', rows);
  t.true(md.includes('| beta | z | seeds | mig | sap score |'));
  t.true(md.includes('| 4 | 10 | 2 | 0.0415 ± 0.000707 | 0.1 ± 0 |'));
  const many = Array.from({ length: 400 }, (_, i) => ({ ...rows[0], trialKey: `t${i}`, beta: i } as SweepSummaryRow));
  const long = summaryMarkdown('big', many, 2000);
  t.true(long.length <= 2000);
  t.regex(long, /more rows in summary\.csv/);
});

test('plots are valid PNGs with ink in the plot area and colours per latent size', (t) => {
  const pts = rows.map((r) => ({ beta: r.beta, latentSize: r.latentSize, seed: r.seed, value: r.metrics.mig as number }));
  const png = PNG.sync.read(plotMetricVsBeta(pts, 'mig'));
  t.is(png.width, 640);
  t.is(png.height, 420);
  const colours = new Set<string>();
  for (let i = 0; i < png.data.length; i += 4) colours.add(`${png.data[i]},${png.data[i + 1]},${png.data[i + 2]}`);
  t.true(colours.has('0,114,178'), 'first latent size in blue');
  t.true(colours.has('230,159,0'), 'second latent size in orange');
  const curves = PNG.sync.read(plotLossCurves({ total: [{ step: 0, value: 3 }, { step: 10, value: 1 }] }, { width: 300, height: 200 }));
  t.is(curves.width, 300);
  // Degenerate input still draws axes rather than throwing.
  t.notThrows(() => renderPlot([{ label: 'flat', points: [{ x: 1, y: 2 }] }]));
  t.notThrows(() => renderPlot([]));
  t.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
});
