// A sweep as it lands in MLflow: parent run with the spec and summary, trials as child runs with params, tags and
// artifacts; then the MLflow UI in headless Chromium shows the trials nested under the parent (screenshots kept in
// test-output/tracking/). Chromium: scripts/setup-chromium.sh.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { chromium, type Browser } from 'playwright-core';
import {
  ensureExperiment,
  logTrialArtifacts,
  MlflowClient,
  startSweepParentRun,
  startTrialRun,
  writeSweepSummary,
  type SweepSummaryRow,
} from '../../src/tracking/index.js';
import { testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { mlflowExperimentLink } from '../../src/tracking/ui-links.js';

const CHROMIUM = '/usr/bin/chromium';
const OUT = path.resolve('test-output', 'tracking');

let server: MlflowServer;
let client: MlflowClient;
let tmp: string;
let exp: string;
let parentId: string;
const rows: SweepSummaryRow[] = [];

test.before(async () => {
  server = await testMlflowServer();
  client = new MlflowClient({ trackingUri: server.uri });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'dcign-sweep-ui-'));
  mkdirSync(OUT, { recursive: true });
  exp = await ensureExperiment(client, 'sweep-ui-test');
  const spec = path.join(tmp, 'dsprites-beta.yaml');
  writeFileSync(spec, 'name: dsprites-beta\nbeta: [1, 4]\nlatentSize: [6, 10]\nseeds: [1]\n');
  const parent = await startSweepParentRun(client, {
    experimentId: exp,
    sweepName: 'dsprites-beta',
    specPath: spec,
    workflowId: 'sweep/dsprites-beta',
  });
  parentId = parent.info.runId;
  const ckpt = path.join(tmp, 'ckpt');
  mkdirSync(ckpt);
  writeFileSync(path.join(ckpt, 'weights.bin'), Buffer.alloc(4096, 7));
  for (const beta of [1, 4])
    for (const latentSize of [6, 10]) {
      const run = await startTrialRun(client, {
        experimentId: exp,
        parentRunId: parentId,
        sweepName: 'dsprites-beta',
        trialKey: `b${beta}-z${latentSize}-s1`,
        workflowId: `sweep/dsprites-beta/b${beta}-z${latentSize}-s1`,
        backend: 'tensorflow',
        device: 'cpu',
        replicas: 1,
        config: { dataset: 'dsprites', seed: 1, steps: 100, runDir: '/tmp/x', model: { variant: 'beta-vae', beta, latentSize, encoderKernels: [4, 4, 4, 4] } },
      });
      const mig = (0.05 * beta) / latentSize;
      await client.logBatch(run.info.runId, {
        metrics: [0, 50, 100].map((step) => ({ key: 'loss/total', value: 100 / (step + 1), step, timestamp: Date.now() })),
      });
      await logTrialArtifacts(client, run.info.runId, {
        lossCurves: { total: [0, 50, 100].map((step) => ({ step, value: 100 / (step + 1) })) },
        metrics: { mig },
        checkpointDir: ckpt,
        step: 100,
      });
      await client.endRun(run.info.runId);
      rows.push({ trialKey: `b${beta}-z${latentSize}-s1`, runId: run.info.runId, beta, latentSize, seed: 1, status: 'COMPLETED', metrics: { mig } });
    }
  await writeSweepSummary(client, parentId, rows);
  await client.endRun(parentId);
});

test.after.always(async () => {
  client?.close();
  await server?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('trial runs carry params, tags and artifacts, nested under the sweep run', async (t) => {
  const children = await client.searchRuns({ experimentIds: [exp], filter: `tags.mlflow.parentRunId = '${parentId}'` });
  t.is(children.length, 4);
  t.deepEqual(children.map((r) => r.info.runName).sort(), ['beta-vae standard beta=1 z=10 seed=1', 'beta-vae standard beta=1 z=6 seed=1', 'beta-vae standard beta=4 z=10 seed=1', 'beta-vae standard beta=4 z=6 seed=1']);
  const one = children.find((r) => r.info.runName === 'beta-vae standard beta=4 z=10 seed=1');
  if (!one) return t.fail('no trial run named beta-vae standard beta=4 z=10 seed=1');
  t.like(one.data.params, { 'model.beta': '4', 'model.latentSize': '10', 'model.encoderKernels': '[4,4,4,4]', seed: '1', replicas: '1', dataset: 'dsprites' });
  t.false('runDir' in one.data.params);
  t.like(one.data.tags, { 'dcign.sweep': 'dsprites-beta', 'temporal.workflowId': 'sweep/dsprites-beta/b4-z10-s1', 'dcign.device': 'cpu' });
  t.is(one.data.metrics['final/mig']?.value, 0.05 * 4 / 10);
  const files = (await client.listArtifactsRecursive(one.info.runId)).map((f) => f.path).sort();
  t.deepEqual(files, ['checkpoint/weights.bin', 'metrics.json', 'plots/loss_curves.png']);
  t.deepEqual(JSON.parse((await client.readArtifact(one.info.runId, 'metrics.json')).toString()), { mig: 0.02 });
});

test('the sweep run holds the spec, the summary table, the note and a plot per metric', async (t) => {
  const files = (await client.listArtifactsRecursive(parentId)).map((f) => f.path).sort();
  t.deepEqual(files, ['spec/dsprites-beta.yaml', 'summary/mig_vs_beta.png', 'summary/summary.csv', 'summary/summary.json']);
  const csv = (await client.readArtifact(parentId, 'summary/summary.csv')).toString().trim().split('\n');
  t.is(csv.length, 5);
  const png = PNG.sync.read(await client.readArtifact(parentId, 'summary/mig_vs_beta.png'));
  t.is(png.width, 640);
  const run = await client.getRun(parentId);
  t.regex(run.data.tags['mlflow.note.content'] ?? '', /\| beta \| z \| seeds \| mig \|/);
  t.is((await client.getExperimentByName('sweep-ui-test'))?.tags['mlflow.experimentKind'], 'custom_model_development');
});

test('MLflow UI in headless Chromium shows the trials nested under the sweep run', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: run scripts/setup-chromium.sh`);
    return;
  }
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
    page.setDefaultTimeout(120_000);
    // The link dcign prints, in a fresh browser (empty localStorage, where MLflow 3 defaults to its GenAI layout):
    // it must open the model-training view on the runs table.
    await page.goto(mlflowExperimentLink(server.uri, exp));
    const parentRow = page.getByText('sweep dsprites-beta').first();
    await parentRow.waitFor();
    const sidebar = page.locator('aside').first();
    await sidebar.getByText('Runs', { exact: true }).first().waitFor();
    t.true(await sidebar.getByText('Model registry', { exact: true }).first().isVisible(), 'the sidebar is the model-training one');
    t.is(await sidebar.getByText('Judges', { exact: true }).count(), 0, 'no GenAI sidebar (Judges, Sessions, ...)');
    const close = page.getByRole('button', { name: 'Close' });
    if ((await close.count()) > 0) await close.first().click().catch(() => undefined); // the assistant side panel
    // Collapsed, the table shows the parent only, with an expander; its children appear under it once expanded.
    t.false(await page.getByText('beta-vae standard beta=4 z=10 seed=1').first().isVisible());
    await page.locator('button[data-component-id*="runnamecellrenderer"]').first().click();
    for (const name of ['beta-vae standard beta=1 z=6 seed=1', 'beta-vae standard beta=1 z=10 seed=1', 'beta-vae standard beta=4 z=6 seed=1', 'beta-vae standard beta=4 z=10 seed=1']) {
      await page.getByText(name).first().waitFor();
      t.true(await page.getByText(name).first().isVisible(), `${name} is visible once the parent is expanded`);
    }
    const y = async (text: string): Promise<number> => (await page.getByText(text).first().boundingBox())?.y ?? -1;
    const x = async (text: string): Promise<number> => (await page.getByText(text).first().boundingBox())?.x ?? -1;
    t.true((await y('beta-vae standard beta=1 z=6 seed=1')) > (await y('sweep dsprites-beta')), 'children are listed below the parent');
    t.true((await x('beta-vae standard beta=1 z=6 seed=1')) > (await x('sweep dsprites-beta')), 'children are indented under the parent');
    await page.waitForTimeout(1000);
    await page.screenshot({ path: path.join(OUT, 'mlflow-sweep-nested.png') });

    await page.goto(`${server.uri}/#/experiments/${exp}/runs/${parentId}/artifacts/summary/mig_vs_beta.png`);
    await page.getByText('summary/mig_vs_beta.png').first().waitFor();
    // The artifact viewer shows the plot itself: an image that loaded, at the plot's own size.
    const want = PNG.sync.read(await client.readArtifact(parentId, 'summary/mig_vs_beta.png'));
    const shown = async (): Promise<{ w: number; h: number }[]> =>
      page.locator('img').evaluateAll((els) =>
        els
          .map((el) => el as unknown as { complete: boolean; naturalWidth: number; naturalHeight: number })
          .filter((i) => i.complete && i.naturalWidth > 0)
          .map((i) => ({ w: i.naturalWidth, h: i.naturalHeight })),
      );
    let images = await shown();
    for (let i = 0; i < 300 && !images.some((x) => x.w === want.width); i++) {
      await page.waitForTimeout(200);
      images = await shown();
    }
    t.true(images.some((x) => x.w === want.width && x.h === want.height), `images on the page: ${JSON.stringify(images)}`);
    await page.screenshot({ path: path.join(OUT, 'mlflow-sweep-summary-plot.png') });
  } finally {
    await browser?.close();
  }
});
