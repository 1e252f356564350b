// The report's figures as Vega-Lite specs (data inlined): each has a title, titled axes and a legend or colour bar,
// so a figure read alone says what it shows. Rendered to SVG/PNG by render.ts and embedded live in the page.
import type { TopLevelSpec } from 'vega-lite';

import type { Analysis } from './analysis.js';
import type { StudyData, TrialRecord } from './gather.js';

export interface Figure {
  /** File stem: `<id>.png`. */
  readonly id: string;
  readonly title: string;
  readonly spec: TopLevelSpec;
}

const FONT = 'DejaVu Sans';
const CONFIG = { font: FONT, title: { fontSize: 15, anchor: 'start' as const }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320 } };

/** What a metric key means, for axis titles. */
export function metricLabel(key: string): string {
  const known: Record<string, string> = {
    recon: 'reconstruction error (nats/image, lower is better)',
    kl: 'KL(q(z|x) || p(z)) (nats)',
    mig: 'MIG',
    sap: 'SAP',
    modularity: 'modularity',
    dci_disentanglement: 'DCI disentanglement',
    udr: 'UDR',
    active_units: 'active units',
    posterior_kl_lower_bound: 'lower bound of KL(aggregate posterior || N(0, I)): its moment-matched Gaussian (nats)',
    posterior_tc: 'Gaussian total correlation (nats)',
    prior_blank: 'prior samples decoding blank (fraction)',
    prior_broken: 'prior samples decoding broken (fraction)',
  };
  return known[key] ?? key;
}

function base(title: string, subtitle?: string): Pick<TopLevelSpec, 'title' | 'config' | '$schema'> {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: subtitle ? { text: title, subtitle } : title,
    config: CONFIG,
  } as Pick<TopLevelSpec, 'title' | 'config' | '$schema'>;
}

/** Per metric: the seeds of each configuration as points over a box (Locatello et al. 2019, Fig. 7 style). */
export function distributionFigure(data: StudyData, metric: string): Figure {
  const values = data.trials
    .filter((t) => Number.isFinite(t.metrics[metric]))
    .map((t) => ({ configuration: t.config.label, variant: t.config.variant, seed: t.seed, value: t.metrics[metric] as number, run: t.name }));
  const x = { field: 'configuration', type: 'nominal', title: 'configuration (variant, architecture, parameter, latent size, other swept keys)', axis: { labelAngle: -35, labelLimit: 260 } };
  const y = { field: 'value', type: 'quantitative', title: metricLabel(metric), scale: { zero: false } };
  const color = { field: 'variant', type: 'nominal', title: 'variant' };
  const title = `${metricLabel(metric)}: spread over seeds`;
  return {
    id: `metric-${metric.replace(/[^A-Za-z0-9_-]/g, '_')}`,
    title,
    spec: {
      ...base(title, 'box: quartiles and range over seeds; dots: one per seed'),
      width: 520,
      height: 260,
      data: { values },
      layer: [
        { mark: { type: 'boxplot', extent: 'min-max', opacity: 0.35, size: 24 }, encoding: { x, y, color } },
        {
          mark: { type: 'circle', size: 60, opacity: 0.9 },
          encoding: { x, y, color, tooltip: [{ field: 'run' }, { field: 'seed' }, { field: 'value', format: '.4g' }] },
        },
      ],
    } as TopLevelSpec,
  };
}

/** Reconstruction against the disentanglement metric, one point per trial, the Pareto front drawn through. */
export function tradeoffFigure(data: StudyData, a: Analysis): Figure | undefined {
  const d = a.disentanglement;
  if (d === undefined) return undefined;
  const rows = data.trials
    .filter((t) => Number.isFinite(t.metrics.recon) && Number.isFinite(t.metrics[d.metric]))
    .map((t) => ({
      configuration: t.config.label,
      recon: t.metrics.recon as number,
      score: t.metrics[d.metric] as number,
      front: a.front.has(t) ? 'on the Pareto front' : 'dominated',
      run: t.name,
    }));
  const frontRows = rows.filter((r) => r.front === 'on the Pareto front').sort((p, q) => p.recon - q.recon);
  const title = `Reconstruction vs ${metricLabel(d.metric)}`;
  const x = { field: 'recon', type: 'quantitative', title: metricLabel('recon'), scale: { zero: false } };
  const y = { field: 'score', type: 'quantitative', title: `${metricLabel(d.metric)} (${d.mode === 'max' ? 'higher' : 'lower'} is better)`, scale: { zero: false } };
  return {
    id: 'tradeoff',
    title,
    spec: {
      ...base(title, 'one point per trial; the line joins the Pareto front (no trial is better on both axes)'),
      width: 520,
      height: 320,
      layer: [
        { data: { values: frontRows }, mark: { type: 'line', color: '#444', strokeDash: [4, 3] }, encoding: { x, y } },
        {
          data: { values: rows },
          mark: { type: 'point', filled: true, size: 80 },
          encoding: {
            x,
            y,
            color: { field: 'configuration', type: 'nominal', title: 'configuration' },
            shape: { field: 'front', type: 'nominal', title: 'Pareto front', scale: { domain: ['on the Pareto front', 'dominated'], range: ['diamond', 'circle'] } },
            tooltip: [{ field: 'run' }, { field: 'recon', format: '.4g' }, { field: 'score', format: '.4g' }],
          },
        },
      ],
    } as TopLevelSpec,
  };
}

/** A trial's KL per latent: the posterior audit's, else the last training value. */
export function klPerLatent(t: TrialRecord): number[] | undefined {
  return t.posterior?.klPerLatent ?? t.trainKlPerLatent;
}

/** KL per latent dimension (sorted largest first in each trial, then averaged over seeds) per configuration. */
export function klLatentFigure(a: Analysis): Figure {
  const values: { configuration: string; rank: number; kl: number }[] = [];
  for (const g of a.groups) {
    const sorted = g.trials.map(klPerLatent).filter((k): k is number[] => k !== undefined).map((k) => [...k].sort((p, q) => q - p));
    if (sorted.length === 0) continue;
    const d = Math.max(...sorted.map((k) => k.length));
    for (let j = 0; j < d; j++) {
      const vs = sorted.map((k) => k[j]).filter((v): v is number => v !== undefined && Number.isFinite(v));
      values.push({ configuration: g.label, rank: j + 1, kl: vs.reduce((s, v) => s + v, 0) / Math.max(1, vs.length) });
    }
  }
  const title = 'KL per latent dimension';
  const x = { field: 'rank', type: 'ordinal', title: 'latent, sorted by its KL (1 = largest)' };
  const y = { field: 'configuration', type: 'nominal', title: 'configuration' };
  return {
    id: 'kl-per-latent',
    title,
    spec: {
      ...base(title, 'mean over seeds of E_x KL(q(z_j|x) || N(0,1)); a latent under ~0.01 nats is unused (collapsed)'),
      data: { values },
      width: { step: 44 },
      height: { step: 26 },
      layer: [
        { mark: 'rect', encoding: { x, y, color: { field: 'kl', type: 'quantitative', title: 'KL (nats)', scale: { scheme: 'viridis' } }, tooltip: [{ field: 'kl', format: '.3g' }] } },
        { mark: { type: 'text', fontSize: 10 }, encoding: { x, y, text: { field: 'kl', type: 'quantitative', format: '.2f' }, color: { value: 'white' } } },
      ],
    } as TopLevelSpec,
  };
}

/** The best seed's aggregate posterior covariance minus the identity, per configuration: zero where q(z) matches N(0, I). */
export function covarianceFigure(a: Analysis): Figure | undefined {
  const values: { configuration: string; i: number; j: number; v: number }[] = [];
  for (const g of a.groups) {
    const cov = g.best?.posterior?.covariance;
    if (cov === undefined) continue;
    cov.forEach((row, i) => row.forEach((v, j) => values.push({ configuration: g.label, i: i + 1, j: j + 1, v: v - (i === j ? 1 : 0) })));
  }
  if (values.length === 0) return undefined;
  const title = 'Aggregate posterior covariance minus identity';
  return {
    id: 'posterior-covariance',
    title,
    spec: {
      ...base(title, 'best seed of each configuration; all white = covariance of q(z) is the identity'),
      data: { values },
      facet: { field: 'configuration', type: 'nominal', title: 'configuration' },
      columns: 4,
      spec: {
        width: 150,
        height: 150,
        mark: 'rect',
        encoding: {
          x: { field: 'j', type: 'ordinal', title: 'latent' },
          y: { field: 'i', type: 'ordinal', title: 'latent' },
          color: { field: 'v', type: 'quantitative', title: 'cov - I', scale: { scheme: 'redblue', domainMid: 0, reverse: true } },
          tooltip: [{ field: 'v', format: '.3f' }],
        },
      },
    } as TopLevelSpec,
  };
}

/** Spearman rank correlation between every pair of metrics over all trials. */
export function correlationFigure(a: Analysis): Figure {
  const values = a.correlation.map((c) => ({ a: c.a, b: c.b, rho: Number.isFinite(c.rho) ? c.rho : null, n: c.n }));
  const title = 'Rank correlation between metrics';
  const x = { field: 'a', type: 'nominal', title: 'metric', sort: a.allMetrics, axis: { labelAngle: -40 } };
  const y = { field: 'b', type: 'nominal', title: 'metric', sort: a.allMetrics };
  return {
    id: 'rank-correlation',
    title,
    spec: {
      ...base(title, "Spearman's rho over all trials (grey: undefined, e.g. a metric constant over trials)"),
      data: { values },
      width: { step: 34 },
      height: { step: 22 },
      layer: [
        { mark: 'rect', encoding: { x, y, color: { field: 'rho', type: 'quantitative', title: "Spearman's rho", scale: { domain: [-1, 1], scheme: 'redblue', reverse: true } }, tooltip: [{ field: 'a' }, { field: 'b' }, { field: 'rho', format: '.2f' }, { field: 'n' }] } },
        { mark: { type: 'text', fontSize: 9 }, encoding: { x, y, text: { field: 'rho', type: 'quantitative', format: '.1f' } } },
      ],
    } as TopLevelSpec,
  };
}

/** Factor x latent normalised mutual information of the best seed of each configuration. */
export function mutualInfoFigure(a: Analysis): Figure | undefined {
  const values: { configuration: string; factor: string; latent: number; nmi: number }[] = [];
  for (const g of a.groups) {
    const mi = g.best?.mutualInfo;
    if (mi === undefined) continue;
    mi.normalised.forEach((row, k) => row.forEach((v, j) => values.push({ configuration: g.label, factor: mi.factorNames[k] ?? `factor ${k}`, latent: j, nmi: v })));
  }
  if (values.length === 0) return undefined;
  const title = 'Which latent captures which factor';
  return {
    id: 'mutual-information',
    title,
    spec: {
      ...base(title, 'mutual information of factor and latent / entropy of the factor (1: the latent determines the factor); best seed per configuration'),
      data: { values },
      facet: { field: 'configuration', type: 'nominal', title: 'configuration' },
      columns: 4,
      spec: {
        width: { step: 22 },
        height: { step: 20 },
        mark: 'rect',
        encoding: {
          x: { field: 'latent', type: 'ordinal', title: 'latent z_j' },
          y: { field: 'factor', type: 'nominal', title: 'factor' },
          color: { field: 'nmi', type: 'quantitative', title: 'normalised MI', scale: { domain: [0, 1], scheme: 'blues' } },
          tooltip: [{ field: 'factor' }, { field: 'latent' }, { field: 'nmi', format: '.3f' }],
        },
      },
    } as TopLevelSpec,
  };
}

/**
 * PBT's lineage (Jaderberg et al. 2017, Fig. 4 style): one row per member, one point per generation at the step its
 * hyperparameters took effect, coloured by its fitness at the generation's end; a line from the member it continued
 * (its parent: itself, or the donor it exploited) at the previous generation. Undefined when no trial is a PBT member.
 */
export function lineageFigure(data: StudyData, fitness: string): Figure | undefined {
  const members = data.trials.filter((t) => t.pbt !== undefined);
  if (members.length === 0) return undefined;
  const points = members.flatMap((t) =>
    (t.pbt?.generations ?? []).map((g) => ({
      member: t.pbt?.member as number,
      generation: g.generation,
      step: g.step,
      parent: g.parent,
      exploited: g.parent !== t.pbt?.member,
      ...(g.fitness !== undefined ? { fitness: g.fitness } : {}),
      hyperparameters: Object.entries(g.hyperparameters).map(([k, v]) => `${k}=${Number(v.toPrecision(4))}`).join(', '),
    })),
  );
  const stepOf = new Map(points.map((p) => [p.generation, p.step]));
  const links = points.filter((p) => p.generation > 0).map((p) => ({ ...p, fromStep: stepOf.get(p.generation - 1) ?? 0 }));
  const title = 'PBT lineage: which member each continued, generation by generation';
  const x = { field: 'step', type: 'quantitative', title: 'training step (a generation\'s hyperparameters take effect here)' };
  const y = { field: 'member', type: 'ordinal', title: 'member' };
  return {
    id: 'pbt-lineage',
    title,
    spec: {
      ...base(title, 'lines: from the checkpoint a member continued (dashed red: it exploited another member); points: coloured by fitness at the generation\'s end'),
      width: 520,
      height: Math.max(120, 40 * members.length),
      layer: [
        {
          data: { values: links },
          mark: { type: 'rule', strokeWidth: 2 },
          encoding: {
            x: { field: 'fromStep', type: 'quantitative' },
            x2: { field: 'step' },
            y: { field: 'parent', type: 'ordinal' },
            y2: { field: 'member' },
            color: { field: 'exploited', type: 'nominal', title: 'exploited', scale: { domain: [false, true], range: ['#9e9e9e', '#d62728'] } },
            strokeDash: { field: 'exploited', type: 'nominal', legend: null, scale: { domain: [false, true], range: [[1, 0], [5, 3]] } },
          },
        },
        {
          data: { values: points },
          mark: { type: 'circle', size: 120, opacity: 1 },
          encoding: {
            x,
            y,
            fill: { field: 'fitness', type: 'quantitative', title: `${metricLabel(fitness)} (fitness)`, scale: { scheme: 'viridis' } },
            tooltip: [{ field: 'member' }, { field: 'generation' }, { field: 'parent' }, { field: 'hyperparameters' }, { field: 'fitness', format: '.4g' }],
          },
        },
      ],
      resolve: { scale: { color: 'independent' } },
    } as TopLevelSpec,
  };
}
