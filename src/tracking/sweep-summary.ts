// What a finished sweep writes to its parent run: one row per trial (its final metrics and where it sits on the
// sweep's axes), as CSV, JSON and a markdown note, and plots of each metric against each variant's own parameter per
// architecture and latent size (against beta per latent size for sweeps whose rows name no variant).
import { PARAMS, VARIANT_AXIS, type ModelVariant, type SweepProgress } from '../contract/types.js';
import { plotMetricVsBeta, plotMetricVsParam, type AxisPoint, type SweepPoint } from '../viz/plot.js';
import type { MlflowClient } from './client.js';
import { atPath } from './trial-logging.js';

export interface SweepSummaryRow {
  trialKey: string;
  runId?: string;
  beta: number;
  latentSize: number;
  seed: number;
  status: string;
  /** Final metrics (MIG, SAP, ...), and any losses worth comparing. */
  metrics: Record<string, number>;
  /** Model variant and architecture; rows with them are grouped and plotted by them. */
  variant?: string;
  architecture?: string;
  /** The variant's own parameter (VARIANT_AXIS: beta, gamma, capacity, lambdaOd, lambda) and its value. */
  param?: string;
  paramValue?: number;
}

/** A sweep's summary rows from its progress and the spec's fixed model section (workers' summarizeSweep). */
export function sweepSummaryRows(p: SweepProgress, model: Record<string, unknown> = {}): SweepSummaryRow[] {
  const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);
  return p.trials.map((t) => {
    const variant = String(t.params.variant ?? model.variant ?? 'beta-vae') as ModelVariant;
    const architecture = String(t.params.architecture ?? model.architecture ?? 'standard');
    const param = VARIANT_AXIS[variant];
    const path = param === undefined ? undefined : PARAMS[param]?.variants?.[variant];
    const fixed = path === undefined ? undefined : atPath(model, path);
    return {
      trialKey: t.key,
      ...(t.mlflowRunId ? { runId: t.mlflowRunId } : {}),
      beta: num(t.params.beta ?? model.beta),
      latentSize: num(t.params.latentSize ?? model.latentSize),
      seed: t.seed,
      status: t.state,
      metrics: t.metrics,
      variant,
      architecture,
      ...(param === undefined ? {} : { param, paramValue: num(t.params[param] ?? t.params[path ?? ''] ?? fixed) }),
    };
  });
}

/** Rows that name a variant (a model-family sweep) are summarised by variant and architecture too. */
function byFamily(rows: readonly SweepSummaryRow[]): boolean {
  return rows.some((r) => r.variant !== undefined || r.architecture !== undefined);
}

function csvCell(v: string | number | undefined): string {
  const s = v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function summaryCsv(rows: readonly SweepSummaryRow[]): string {
  const metricKeys = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
  const family = byFamily(rows);
  const header = ['trial', 'run_id', ...(family ? ['variant', 'architecture', 'param', 'param_value'] : []), 'beta', 'latent_size', 'seed', 'status', ...metricKeys];
  const lines = [header.join(',')];
  for (const r of rows) {
    const fam = family ? [r.variant, r.architecture, r.param, r.paramValue] : [];
    lines.push(
      [r.trialKey, r.runId, ...fam, r.beta, r.latentSize, r.seed, r.status, ...metricKeys.map((k) => r.metrics[k])].map(csvCell).join(','),
    );
  }
  return lines.join('\n') + '\n';
}

const fmt = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(3))) : String(v));

/**
 * Markdown: mean ± std over seeds per group, one column per metric; kept within MLflow's tag limit. Groups are
 * (beta, latent size), or for model-family rows (variant, architecture, the variant's own parameter, latent size).
 */
export function summaryMarkdown(sweepName: string, rows: readonly SweepSummaryRow[], maxChars = 5000): string {
  const metricKeys = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
  const family = byFamily(rows);
  const groupKey = (r: SweepSummaryRow): string =>
    family ? JSON.stringify([r.variant, r.architecture, r.param, r.paramValue, r.latentSize]) : JSON.stringify([r.beta, r.latentSize]);
  const groups = new Map<string, SweepSummaryRow[]>();
  for (const r of rows) {
    const k = groupKey(r);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const done = rows.filter((r) => r.status === 'COMPLETED' || r.status === 'FINISHED' || r.status === 'completed').length;
  const stoppedEarly = rows.filter((r) => r.status === 'stopped').length;
  const lead = family ? ['variant', 'arch', 'parameter', 'z', 'seeds'] : ['beta', 'z', 'seeds'];
  const head = [
    `## Sweep ${sweepName}`,
    '',
    `${rows.length} trials, ${done} finished${stoppedEarly > 0 ? `, ${stoppedEarly} stopped early (status stopped)` : ''}. Mean ± std over seeds; full table in \`summary/summary.csv\`, plots in \`summary/\`.`,
    '',
    `| ${[...lead, ...metricKeys].join(' | ')} |`,
    `|${lead.map(() => '---').join('|')}|${metricKeys.map(() => '---').join('|')}|`,
  ].join('\n');
  const body: string[] = [];
  const keys = [...groups.keys()].sort((a, b) => {
    const ra = (groups.get(a) as SweepSummaryRow[])[0] as SweepSummaryRow;
    const rb = (groups.get(b) as SweepSummaryRow[])[0] as SweepSummaryRow;
    if (!family) return ra.latentSize - rb.latentSize || ra.beta - rb.beta;
    return (
      String(ra.variant).localeCompare(String(rb.variant)) ||
      String(ra.architecture).localeCompare(String(rb.architecture)) ||
      ra.latentSize - rb.latentSize ||
      (ra.paramValue ?? 0) - (rb.paramValue ?? 0)
    );
  });
  for (const k of keys) {
    const g = groups.get(k) as SweepSummaryRow[];
    const r0 = g[0] as SweepSummaryRow;
    const cells = metricKeys.map((m) => {
      const v = g.map((r) => r.metrics[m]).filter((x): x is number => x !== undefined && Number.isFinite(x));
      if (v.length === 0) return '–';
      const mean = v.reduce((a, c) => a + c, 0) / v.length;
      const sd = Math.sqrt(v.reduce((a, c) => a + (c - mean) ** 2, 0) / Math.max(1, v.length - 1));
      return v.length > 1 ? `${fmt(mean)} ± ${fmt(sd)}` : fmt(mean);
    });
    const leadCells = family
      ? [r0.variant ?? '', r0.architecture ?? '', r0.param === undefined ? '' : `${r0.param}=${r0.paramValue ?? ''}`, r0.latentSize, g.length]
      : [r0.beta, r0.latentSize, g.length];
    body.push(`| ${[...leadCells, ...cells].join(' | ')} |`);
  }
  let md = head;
  for (let i = 0; i < body.length; i++) {
    const more = `\n| … ${body.length - i} more rows in summary.csv | ${lead.slice(1).map(() => '').join(' | ')} | ${metricKeys.map(() => '').join(' | ')} |`;
    if (md.length + 1 + (body[i] as string).length + more.length > maxChars) {
      md += more;
      break;
    }
    md += '\n' + body[i];
  }
  return md + '\n';
}

const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_');

/** The summary plots: file name -> PNG. Model-family rows: per metric and variant, against its own parameter. */
export function summaryPlots(rows: readonly SweepSummaryRow[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const metricKeys = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
  for (const m of metricKeys) {
    const mine = rows.filter((r) => r.metrics[m] !== undefined);
    if (mine.length === 0) continue;
    if (!byFamily(rows)) {
      const pts: SweepPoint[] = mine.map((r) => ({ beta: r.beta, latentSize: r.latentSize, seed: r.seed, value: r.metrics[m] as number }));
      out.set(`summary/${safe(m)}_vs_beta.png`, plotMetricVsBeta(pts, m));
      continue;
    }
    const variants = [...new Set(mine.map((r) => r.variant ?? ''))].sort();
    for (const v of variants) {
      const vr = mine.filter((r) => (r.variant ?? '') === v);
      const param = vr[0]?.param ?? 'beta';
      const pts: AxisPoint[] = vr.map((r) => ({
        x: r.param === undefined ? r.beta : (r.paramValue ?? NaN),
        line: `${r.architecture ?? 'standard'} z=${r.latentSize}`,
        seed: r.seed,
        value: r.metrics[m] as number,
      }));
      out.set(`summary/${safe(m)}_${safe(v)}_vs_${safe(param)}.png`, plotMetricVsParam(pts, m, v, param));
    }
  }
  return out;
}

/**
 * Writes the sweep summary to the parent run: `summary/summary.csv`, `summary/summary.json`, the plots of summaryPlots
 * (`summary/<metric>_<variant>_vs_<parameter>.png`, or `summary/<metric>_vs_beta.png` for rows without a variant), and the markdown table as the run's description
 * (`mlflow.note.content`), with the first plot embedded so it shows on the run page.
 */
export async function writeSweepSummary(
  client: MlflowClient,
  parentRunId: string,
  rows: readonly SweepSummaryRow[],
  o: { sweepName?: string } = {},
): Promise<{ plots: string[] }> {
  const name = o.sweepName ?? (await client.getRun(parentRunId)).data.tags['dcign.sweep'] ?? parentRunId;
  await client.logArtifactBytes(parentRunId, 'summary/summary.csv', summaryCsv(rows));
  await client.logArtifactBytes(parentRunId, 'summary/summary.json', JSON.stringify({ sweep: name, trials: rows }, null, 2) + '\n');
  const plots: string[] = [];
  for (const [file, png] of summaryPlots(rows)) {
    await client.logArtifactBytes(parentRunId, file, png);
    plots.push(file);
  }
  let note = summaryMarkdown(name, rows, client.limits.maxTagValueLength - 300);
  if (plots[0] !== undefined) {
    // The UI renders the description as markdown; its own artifact endpoint serves the image.
    note += `\n![${plots[0]}](get-artifact?path=${encodeURIComponent(plots[0])}&run_uuid=${parentRunId})\n`;
  }
  await client.setTags(parentRunId, { 'mlflow.note.content': note, 'dcign.summary': 'summary/summary.csv' });
  return { plots };
}
