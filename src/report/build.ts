// `dcign report <sweep>`: gathers the sweep from MLflow, analyses it, renders every figure (SVG for the page, PNG
// beside it), fetches the best seeds' traversals, writes index.html with its files into one folder, and logs that
// folder to the sweep's parent run under report/.
import { planCheck } from './plan-checks.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

import { COLLAPSE_KL_NATS, collapseReason } from '../sweep/collapse.js';
import type { MlflowClient } from '../tracking/index.js';
import { analyse, type Analysis } from './analysis.js';
import {
  correlationFigure,
  lineageFigure,
  covarianceFigure,
  distributionFigure,
  klLatentFigure,
  klPerLatent,
  metricLabel,
  mutualInfoFigure,
  tradeoffFigure,
  type Figure,
} from './figures.js';
import { findings } from './findings.js';
import { gatherStudy, type StudyData } from './gather.js';
import { reportHtml, type PageFigure, type PageTraversal } from './html.js';
import { renderSpec, svgToPng } from './render.js';
import { labelledTraversalSvg, latentLabels } from './traversal-grid.js';

export interface ReportOptions {
  readonly sweep: string;
  readonly out: string;
  readonly trackingUri: string;
  /** Log the report folder to the sweep's parent run (default true). */
  readonly upload?: boolean;
}

export interface ReportResult {
  readonly html: string;
  readonly files: string[];
  readonly data: StudyData;
  readonly analysis: Analysis;
  /** Where the report went in MLflow (`runs:/<parent>/report`), when uploaded. */
  readonly artifactUri?: string;
}

export async function buildReport(client: MlflowClient, o: ReportOptions): Promise<ReportResult> {
  const data = await gatherStudy(client, o.sweep, o.trackingUri);
  const a = analyse(data);
  await mkdir(o.out, { recursive: true });
  const files: string[] = [];
  const notes: string[] = [];
  const put = async (name: string, bytes: Buffer | Uint8Array | string): Promise<string> => {
    const file = path.join(o.out, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
    files.push(file);
    return name;
  };
  const draw = async (f: Figure | undefined, caption: string): Promise<PageFigure | undefined> => {
    if (f === undefined) return undefined;
    const r = await renderSpec(f.spec);
    const png = await put(`figures/${f.id}.png`, svgToPng(r.svg));
    await put(`figures/${f.id}.vl.json`, `${JSON.stringify(f.spec, null, 2)}\n`);
    return { id: f.id, title: f.title, caption, svg: r.svg, vega: r.vega, png };
  };

  const failed = data.trials.filter((t) => t.status !== 'FINISHED');
  if (failed.length > 0) notes.push(`${failed.length} trial(s) did not finish (${failed.map((t) => `${t.name}: ${t.status}`).join(', ')}); they count only where they logged a value.`);
  const noAudit = data.trials.filter((t) => t.posterior === undefined && t.status === 'FINISHED');
  const collapsed = data.trials.map((t) => ({ t, why: collapseReason(t.metrics) })).filter((c) => c.why !== undefined);
  if (collapsed.length > 0) {
    notes.push(
      `${collapsed.length} trial(s) collapsed (no active unit, or final KL below ${COLLAPSE_KL_NATS} nats: the encoder carries nothing, so their metrics describe no code): ` +
        `${collapsed.map((c) => `${c.t.name} (${c.why})`).join(', ')}.`,
    );
  }
  const checks = data.trials.map(planCheck);
  const flagged = checks.filter((c) => c.flags.length > 0);
  if (flagged.length > 0) notes.push(`${flagged.length} trial(s) fail the plan's checks: ${flagged.map((c) => `${c.trial.name} (${c.flags.join('; ')})`).join(', ')}.`);
  const heldOutless = checks.filter((c) => c.heldOut === undefined && c.trial.status === 'FINISHED').length;
  if (heldOutless > 0) notes.push(`${heldOutless} finished trial(s) have no held-out reconstruction (add \`elbo\` to the spec's evaluation.metrics).`);
  const notApplicable = [...new Set(data.trials.map((t) => t.posterior?.prior.brokenNotApplicable).filter((r): r is string => r !== undefined))];
  for (const why of notApplicable) notes.push(`"prior broken" is left out: ${why}.`);
  if (noAudit.length > 0) notes.push(`${noAudit.length} finished trial(s) have no posterior audit (eval/posterior.json; evaluated by an older dcign or evaluation off).`);

  const distributions: PageFigure[] = [];
  for (const m of a.metrics) {
    const f = await draw(distributionFigure(data, m), `${metricLabel(m)} of every seed, per configuration.`);
    if (f) distributions.push(f);
  }
  const tradeoff = await draw(tradeoffFigure(data, a), 'Lower left is better on reconstruction, top on disentanglement (for a max metric); diamonds are the trials no other trial beats on both.');
  if (tradeoff === undefined) notes.push('no reconstruction vs disentanglement figure: no trial has a disentanglement metric (or UDR).');
  const klLatent = await draw(klLatentFigure(a), 'Rows: configurations; columns: latents ordered by KL within each trial, then averaged over seeds. The active-unit counts are in the table and the "active units" figure.');
  const mutualInfo = await draw(mutualInfoFigure(a), 'Rows: ground-truth factors; columns: latents. A disentangled code has one bright cell per row and per column.');
  const covariance = await draw(covarianceFigure(a), 'Entry (i, j) of Cov[q(z)] - I; diagonal blue: a latent with less variance than the prior (a prior hole), red: more; off-diagonal colour: correlated latents.');
  const lineage = await draw(
    lineageFigure(data, data.pbtFitness ?? 'fitness'),
    'One row per member; each point is a generation at the step its hyperparameters took effect (hover for them). A red dashed line: the member copied that donor\'s checkpoint and perturbed its hyperparameters.',
  );
  const correlation = await draw(correlationFigure(a), 'Spearman correlation over all trials: metrics that rank trials alike are red; blue: they disagree.');

  const traversals: PageTraversal[] = [];
  for (const g of a.groups) {
    const t = g.best ?? g.trials.find((x) => x.status === 'FINISHED');
    if (t === undefined) continue;
    const slug = g.label.replace(/[^A-Za-z0-9=.-]+/g, '_');
    const kl = klPerLatent(t);
    const labels = latentLabels(t.config.latentSize, t.mutualInfo, kl);
    let grid: PageFigure | undefined;
    try {
      const png = await client.readArtifact(t.runId, 'images/latent_traversals.png');
      const { width, height } = pngSize(png);
      const columns = 9; // workers/evaluate.ts: traversalSteps 9, src/viz/grid.ts padding 2
      const side = Math.round((width - 2) / columns - 2);
      if (Math.abs(height - (labels.length * (side + 2) + 2)) > 1) throw new Error(`traversal grid ${width}x${height} does not hold ${labels.length} rows of ${columns}`);
      const svg = labelledTraversalSvg({ png, title: `Latent traversals: ${g.label}, seed ${t.seed}`, labels, columns, tile: side });
      const name = await put(`traversals/${slug}/grid.png`, svgToPng(svg, 1));
      grid = { id: `traversal-${slug}`, title: 'traversals', caption: 'Rows: latents, labelled by the factor each captures; columns: the latent swept from -2 to 2.', svg, vega: undefined, png: name };
    } catch (err) {
      notes.push(`${g.label}: no traversal grid (${(err as Error).message.slice(0, 120)})`);
    }
    const gifs: PageTraversal['gifs'][number][] = [];
    for (const label of labels) {
      try {
        const bytes = await client.readArtifact(t.runId, `eval/traversals/z${label.latent}.gif`);
        gifs.push({ file: await put(`traversals/${slug}/z${label.latent}.gif`, bytes), label });
      } catch {
        // older evaluations wrote no GIFs; the still grid stands alone
      }
    }
    traversals.push({ configuration: g.label, trial: t.name, rankValue: t.metrics[a.ranking.metric], grid, gifs });
  }

  const runtime = await readFile(path.join(path.dirname(createRequire(import.meta.url).resolve('vega/vega-schema.json')), 'vega.min.js'), 'utf8');
  const html = await put('index.html', reportHtml(data, a, { distributions, tradeoff, klLatent, covariance, mutualInfo, correlation, lineage, traversals, notes, findings: findings(a), checks }, runtime, new Date()));
  const result: ReportResult = { html: path.join(o.out, html), files, data, analysis: a };
  if (o.upload === false) return result;
  // a few uploads at a time: a report is dozens of small files
  const queue = [...files];
  const upload = async (): Promise<void> => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      await client.logArtifact(data.parentRunId, f, path.posix.join('report', path.relative(o.out, path.dirname(f)).split(path.sep).join('/')));
    }
  };
  await Promise.all(Array.from({ length: 4 }, upload));
  return { ...result, artifactUri: `runs:/${data.parentRunId}/report` };
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  if (png.length < 24 || png.readUInt32BE(12) !== 0x49484452) throw new Error('not a PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
