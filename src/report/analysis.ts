// The numbers a study report shows, from the gathered MLflow data: which metric ranks trials, the configurations and
// the best seed of each, mean and interval over seeds per configuration and metric (stats.ts seedInterval: t for n >= 3,
// the range for n = 2), Spearman correlations between
// metrics over all trials, the reconstruction vs disentanglement Pareto front.
import { defaultMode, METRIC_HEADLINE, type Objective } from '../contract/types.js';
import type { StudyData, TrialRecord } from './gather.js';
import { paretoFront, seedInterval, spearman, type MeanCi } from './stats.js';

/** Metrics that need ground-truth factors; without any of them a study ranks by UDR (Duan et al. 2020). */
const FACTOR_METRICS = /^(mig|sap|sap_continuous|modularity|dci_.*|irs|explicitness_.*|beta_vae_.*|factor_vae_.*)$/;
/** The posterior audit's scalars and active units: latent-space properties shown beside the metrics. */
export const LATENT_METRICS = ['active_units', 'posterior_kl_lower_bound', 'posterior_tc', 'prior_blank', 'prior_broken'];

export interface ConfigGroup {
  readonly label: string;
  readonly trials: TrialRecord[];
  /** The trial that ranks first by the ranking objective (undefined when none has it). */
  readonly best: TrialRecord | undefined;
}

export interface Analysis {
  /** What ranks trials: the spec's objective, else UDR without factor metrics, else the first spec metric, else recon. */
  readonly ranking: Objective & { readonly why: string };
  /** The disentanglement axis of the trade-off figure (the ranking metric unless that is a loss). */
  readonly disentanglement: Objective | undefined;
  /** Metrics shown per configuration, in order: losses, ranking, spec metrics, UDR, the rest, latent-space audit. */
  readonly metrics: string[];
  /** Every metric any trial has, for the correlations. */
  readonly allMetrics: string[];
  readonly groups: ConfigGroup[];
  /** [configuration label][metric] */
  readonly table: Map<string, Map<string, MeanCi>>;
  readonly correlation: { readonly a: string; readonly b: string; readonly rho: number; readonly n: number }[];
  /** Indices into trials on the trade-off's Pareto front. */
  readonly front: Set<TrialRecord>;
}

export function rankingOf(data: StudyData): Objective & { why: string } {
  if (data.objective) return { ...data.objective, why: "the spec's objective" };
  const keys = new Set(data.trials.flatMap((t) => Object.keys(t.metrics)));
  const hasFactor = [...keys].some((k) => FACTOR_METRICS.test(k));
  if (!hasFactor && keys.has('udr')) return { metric: 'udr', mode: 'max', why: 'UDR: the data has no ground-truth factors' };
  const first = data.specMetrics.map((m) => METRIC_HEADLINE[m as keyof typeof METRIC_HEADLINE] ?? m).find((k) => keys.has(k));
  if (first !== undefined) return { metric: first, mode: defaultMode(first), why: "the spec's first metric (it names no objective)" };
  return { metric: 'recon', mode: 'min', why: 'no objective and no metric: reconstruction error' };
}

export function analyse(data: StudyData): Analysis {
  const ranking = rankingOf(data);
  const present = new Set(data.trials.flatMap((t) => Object.keys(t.metrics)));
  const spec = data.specMetrics.map((m) => METRIC_HEADLINE[m as keyof typeof METRIC_HEADLINE] ?? m);
  const ordered = [...new Set(['recon', 'kl', ranking.metric, ...spec, 'udr', ...LATENT_METRICS])].filter((k) => present.has(k));
  const allMetrics = [...new Set([...ordered, ...[...present].sort()])];
  const better = (a: number, b: number): boolean => (ranking.mode === 'min' ? a < b : a > b);
  const byLabel = new Map<string, TrialRecord[]>();
  for (const t of data.trials) byLabel.set(t.config.label, [...(byLabel.get(t.config.label) ?? []), t]);
  const groups = [...byLabel.entries()].map(([label, trials]) => {
    let best: TrialRecord | undefined;
    for (const t of trials) {
      const v = t.metrics[ranking.metric];
      if (v === undefined || !Number.isFinite(v)) continue;
      if (best === undefined || better(v, best.metrics[ranking.metric] as number)) best = t;
    }
    return { label, trials, best };
  });
  const table = new Map<string, Map<string, MeanCi>>();
  groups.forEach((g) => {
    const row = new Map<string, MeanCi>();
    allMetrics.forEach((m) => {
      row.set(m, seedInterval(g.trials.map((t) => t.metrics[m] ?? NaN)));
    });
    table.set(g.label, row);
  });
  const correlation: Analysis['correlation'] = [];
  for (const a of allMetrics) {
    for (const b of allMetrics) {
      const r = spearman(data.trials.map((t) => t.metrics[a] ?? NaN), data.trials.map((t) => t.metrics[b] ?? NaN));
      correlation.push({ a, b, rho: r.rho, n: r.n });
    }
  }
  const disentanglement: Objective | undefined =
    ranking.metric !== 'recon' && ranking.metric !== 'kl' && ranking.metric !== 'loss'
      ? { metric: ranking.metric, mode: ranking.mode }
      : [...spec, 'udr'].filter((k) => present.has(k)).map((k) => ({ metric: k, mode: defaultMode(k) }))[0];
  const front = new Set<TrialRecord>();
  if (disentanglement !== undefined) {
    const pts = data.trials.map((t) => ({ x: t.metrics.recon ?? NaN, y: t.metrics[disentanglement.metric] ?? NaN }));
    for (const i of paretoFront(pts, { x: 'min', y: disentanglement.mode })) front.add(data.trials[i] as TrialRecord);
  }
  return { ranking, disentanglement, metrics: ordered, allMetrics, groups, table, correlation, front };
}
