// `dcign report` end to end against a real MLflow server: a sweep's parent and trial runs made through src/tracking
// (as the sweep's activities make them) with the evaluation's artifacts, the report built and logged back, every
// figure checked for title, axis titles and legend, and the page opened offline in headless Chromium (screenshot
// kept in test-output/report/). Chromium: scripts/setup-chromium.sh.
import test from 'ava';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

import { checkPriorSamples, posteriorAudit } from '../../src/eval/posterior-audit.js';
import { buildReport, type ReportResult } from '../../src/report/build.js';
import { gatherStudy, StudyNotFoundError } from '../../src/report/gather.js';
import { ensureExperiment, MlflowClient, startSweepParentRun, startTrialRun } from '../../src/tracking/index.js';
import { encodeGif } from '../../src/viz/gif.js';
import { tileGrid } from '../../src/viz/grid.js';
import { encodePng } from '../../src/viz/png.js';
import { Rng } from '../../src/random.js';
import { testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';

const CHROMIUM = '/usr/bin/chromium';
const OUT = path.resolve('test-output', 'report');
const SWEEP = 'report-test';
const LATENTS = 3;

let server: MlflowServer;
let client: MlflowClient;
let tmp: string;
let report: ReportResult;

/**
 * Known results: recon grows and MIG grows with beta and seed; beta-tcvae is worse on both than beta-vae. The loss is
 * each variant's equation of its terms, but for one planted trial (beta-vae beta 4 seed 2: 5 nats too many); the
 * held-out recon is 1.1x the training one, but for one planted trial (beta-tcvae beta 1 seed 0: 1.5x).
 */
function results(variant: string, beta: number, seed: number): Record<string, number> {
  const tc = variant === 'beta-tcvae' ? 1 : 0;
  const recon = 20 + 5 * beta + seed + tc;
  const kl = 12 / beta;
  const regulariser = variant === 'beta-tcvae' ? kl + (beta - 1) * tc : beta * kl;
  const planted = variant === 'beta-vae' && beta === 4 && seed === 2 ? 5 : 0;
  const gap = variant === 'beta-tcvae' && beta === 1 && seed === 0 ? 1.5 : 1.1;
  return {
    recon,
    kl,
    ...(variant === 'beta-tcvae' ? { tc } : {}),
    regulariser,
    loss: recon + regulariser + planted,
    'eval/heldout_recon': recon * gap,
    'eval/mig': 0.025 * beta + 0.01 * seed - 0.005 * tc,
    'eval/active_units': 2,
  };
}

test.before(async () => {
  server = await testMlflowServer();
  client = new MlflowClient({ trackingUri: server.uri });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'dcign-report-'));
  const exp = await ensureExperiment(client, SWEEP);
  const spec = { name: SWEEP, dataset: 'dsprites-small', objective: { metric: 'mig', mode: 'max' }, evaluation: { enabled: true, metrics: ['mig'] } };
  const parent = await startSweepParentRun(client, { experimentId: exp, sweepName: SWEEP, spec });
  const rng = new Rng(7);
  const trials = ['beta-vae', 'beta-tcvae'].flatMap((variant) => [1, 4].flatMap((beta) => [0, 1, 2].map((seed) => ({ variant, beta, seed }))));
  // four trials at a time: the server's requests, not this process, are the cost
  for (let i = 0; i < trials.length; i += 4) {
    await Promise.all(
      trials.slice(i, i + 4).map(async ({ variant, beta, seed }) => {
        const run = await startTrialRun(client, {
          experimentId: exp,
          parentRunId: parent.info.runId,
          sweepName: SWEEP,
          trialKey: `variant=${variant},beta=${beta},seed=${seed}`,
          config: { dataset: 'dsprites-small', seed, model: { variant, beta, latentSize: LATENTS, imageSize: 32 } },
        });
        const id = run.info.runId;
        await client.logMetrics(id, results(variant, beta, seed));
        // The evaluation's artifacts, made by the same functions evaluation uses.
        const mu = Array.from({ length: 50 }, () => Array.from({ length: LATENTS }, (_, j) => rng.normal() * (j === 2 ? 0.05 : 1 / beta)));
        const audit = { ...posteriorAudit(mu, mu.map(() => [-1, -1, 0])), prior: checkPriorSamples(new Float32Array(4 * 16).fill(0.2), 16) };
        await client.logArtifactBytes(id, 'eval/posterior.json', JSON.stringify(audit));
        await client.logMetrics(id, { 'eval/posterior_kl_lower_bound': audit.gaussianKlLowerBound, 'eval/prior_blank': audit.prior.blank });
        const mutualInfo = [[0.9, 0.1, 0], [0.05, 0.8, 0.1]];
        await client.logArtifactBytes(id, 'eval/metrics.json', JSON.stringify({ factorNames: ['shape', 'scale'], mutualInfo, factorEntropy: [1, 2] }));
        const frames = new Float32Array(LATENTS * 9 * 8 * 8).map((_, i) => (i % 7) / 6);
        await client.logArtifactBytes(id, 'images/latent_traversals.png', encodePng(tileGrid({ data: frames, count: LATENTS * 9, width: 8, height: 8, channels: 1 }, { columns: 9 })));
        for (let j = 0; j < LATENTS; j++) {
          await client.logArtifactBytes(id, `eval/traversals/z${j}.gif`, Buffer.from(encodeGif({ data: frames.subarray(0, 9 * 64), count: 9, width: 8, height: 8, channels: 1 }, { scale: 4 })));
        }
        await client.endRun(id, 'FINISHED');
      }),
    );
  }
  report = await buildReport(client, { sweep: SWEEP, out: path.join(tmp, 'report'), trackingUri: server.uri });
});

test.after.always(async () => {
  client?.close();
  await server?.dispose();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('the report ranks by the spec objective, finds the best seed of each configuration and the Pareto front', (t) => {
  const a = report.analysis;
  t.is(report.data.trials.length, 12);
  t.deepEqual(a.ranking, { metric: 'mig', mode: 'max', why: "the spec's objective" });
  t.deepEqual(a.groups.map((g) => g.label).sort(), ['beta-tcvae standard beta=1 z=3', 'beta-tcvae standard beta=4 z=3', 'beta-vae standard beta=1 z=3', 'beta-vae standard beta=4 z=3']);
  for (const g of a.groups) t.is(g.best?.seed, 2, `${g.label}: seed 2 has the highest MIG`);
  const front = [...a.front].map((tr) => `${tr.config.variant} ${tr.config.paramValue} ${tr.seed}`).sort();
  t.true(front.includes('beta-vae 1 0'), 'lowest reconstruction error');
  t.true(front.includes('beta-vae 4 2'), 'highest MIG');
  t.false(front.some((f) => f.startsWith('beta-tcvae')), 'every beta-tcvae trial is beaten on both axes by its beta-vae twin');
  const recon = a.table.get('beta-vae standard beta=4 z=3')?.get('recon');
  t.is(recon?.mean, 41); // 40 + seeds 0, 1, 2
  // 3 seeds (40, 41, 42): the 95% t interval 41 +- 4.303 / sqrt(3), wider than their range
  t.like(recon, { n: 3, kind: 't95' });
  t.true(Math.abs((recon?.lo ?? NaN) - (41 - 4.303 / Math.sqrt(3))) < 1e-9 && (recon?.lo ?? 0) < 40);
  t.true(a.metrics.includes('posterior_kl_lower_bound') && a.metrics.includes('active_units'));
});

test("the plan's checks flag exactly the planted trials: a loss off its equation, a held-out recon far above training", (t) => {
  const html = readFileSync(report.html, 'utf8');
  const checks = html.slice(html.indexOf('<h2 id="checks">'), html.indexOf('<h2 id="table">'));
  const flagged = [...checks.matchAll(/<tr><td>([^<]+)<\/td>.*?<td(?: class="note")?>([^<]*)<\/td><\/tr>/g)].filter((m) => m[2] !== 'no').map((m) => m[1]);
  t.is(flagged.length, 2, checks);
  t.regex(checks, /loss 59 is not recon \+ 4 KL = 54/);
  t.regex(checks, /held-out recon 39 is 1\.50x the training recon/);
  t.true(html.includes("2 trial(s) fail the plan's checks"), 'named in the notes under the answer');
});

test('every figure has a title, titled axes and a legend or colour bar', async (t) => {
  const dir = path.join(path.dirname(report.html), 'figures');
  const specs = (await readdir(dir)).filter((f) => f.endsWith('.vl.json'));
  t.true(specs.length >= 8, specs.join(', '));
  type Unit = { encoding?: Record<string, { title?: string; field?: string }>; layer?: Unit[]; spec?: Unit; title?: unknown };
  for (const file of specs) {
    const spec = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as Unit;
    t.truthy(spec.title, `${file}: title`);
    const units: Unit[] = [];
    const walk = (u: Unit): void => {
      if (u.encoding) units.push(u);
      u.layer?.forEach(walk);
      if (u.spec) walk(u.spec);
    };
    walk(spec);
    const marks = units.filter((u) => u.encoding?.x && u.encoding?.y);
    t.true(marks.length > 0, `${file}: an x/y mark`);
    for (const u of marks) t.truthy(u.encoding?.x?.title && u.encoding?.y?.title, `${file}: axis titles`);
    t.true(units.some((u) => (u.encoding?.color?.field && u.encoding.color.title) || (u.encoding?.shape?.field && u.encoding.shape.title)), `${file}: legend or colour bar`);
    const png = await readFile(path.join(dir, file.replace('.vl.json', '.png')));
    t.true(png.length > 2000, `${file}: a PNG beside it`);
  }
  const html = await readFile(report.html, 'utf8');
  for (const label of ['z0: shape (NMI 0.90)', 'z1: scale (NMI 0.40)', 'z2: unused']) t.true(html.includes(label), `traversal label ${label}`);
});

test('the report folder is logged to the sweep run', async (t) => {
  t.is(report.artifactUri, `runs:/${report.data.parentRunId}/report`);
  const files = (await client.listArtifactsRecursive(report.data.parentRunId, 'report')).map((f) => f.path);
  t.true(files.includes('report/index.html'));
  t.true(files.includes('report/figures/tradeoff.png'));
  t.true(files.some((f) => /^report\/traversals\/.+\/z0\.gif$/.test(f)));
});

test('an unknown sweep is refused with the fix', async (t) => {
  await t.throwsAsync(gatherStudy(client, 'no-such-sweep', server.uri), { instanceOf: StudyNotFoundError, message: /no MLflow experiment named 'no-such-sweep'.*MLFLOW_TRACKING_URI/ });
});

test('the page works offline in headless Chromium: figures drawn live, GIFs load, no request leaves the folder', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: run scripts/setup-chromium.sh`);
    return;
  }
  mkdirSync(OUT, { recursive: true });
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    const outside: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
      outside.push(url);
      return route.abort();
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(report.html).href);
    const charts = await page.locator('.vega').count();
    t.true(charts >= 8);
    await page.waitForFunction(`document.querySelectorAll('.vega[data-live="true"]').length === ${charts}`, undefined, { timeout: 60_000 });
    t.deepEqual(errors, []);
    t.deepEqual(outside, []);
    const gifs = await page.locator('.gifs img').evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth));
    t.is(gifs.length, 4 * LATENTS);
    t.true(gifs.every((w) => w === 32), 'every GIF decodes (8 px frames x 4)');
    const live = await page.locator('#fig-tradeoff svg text').allTextContents();
    t.true(live.some((s) => s.startsWith('Reconstruction vs MIG')), 'live figure title');
    t.true(live.some((s) => s.startsWith('reconstruction error')), 'live axis title');
    await t.notThrowsAsync(page.getByText('Best configuration by mean mig').waitFor({ timeout: 5000 }));
    await page.screenshot({ path: path.join(OUT, 'report.png'), fullPage: true });
  } finally {
    await browser?.close();
  }
});
