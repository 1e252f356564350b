// The report's Findings (issue 33, Deliver 3): the study's questions answered from the data, each as the difference
// between two configurations with its 95% interval over seeds (stats.ts differenceInterval, Welch's t) and a verdict,
// "settled" when the interval excludes 0, else "inside the seed noise".
//   - Does attention or skip change reconstruction or the metrics? residual - standard and attention - standard, per
//     variant and parameter (every other swept key held equal).
//   - Which model disentangles, at what cost in reconstruction? each configuration - beta-VAE at beta 1 (the plain
//     VAE) of the same architecture.
import type { Analysis } from './analysis.js';
import type { ConfigGroup } from './analysis.js';
import { differenceInterval, type Difference } from './stats.js';

export interface Finding {
  readonly question: string;
  readonly a: string;
  readonly b: string;
  readonly metric: string;
  readonly d: Difference;
}

/** The configuration of `g` but its architecture: what an architecture comparison holds equal. */
function restOf(g: ConfigGroup): string {
  const c = g.trials[0]?.config;
  return c ? `${c.variant} ${c.param}=${c.paramValue} z=${c.latentSize} ${JSON.stringify(c.swept)}` : g.label;
}

export function findings(a: Analysis): Finding[] {
  const metrics = [...new Set(['recon', a.disentanglement?.metric].filter((m): m is string => m !== undefined && a.metrics.includes(m)))];
  const values = (g: ConfigGroup, m: string): number[] => g.trials.map((t) => t.metrics[m] ?? NaN);
  const out: Finding[] = [];
  const archOf = (g: ConfigGroup): string => g.trials[0]?.config.architecture ?? '';
  for (const g of a.groups) {
    if (archOf(g) === 'standard') continue;
    const base = a.groups.find((h) => archOf(h) === 'standard' && restOf(h) === restOf(g));
    if (base === undefined) continue;
    for (const m of metrics) out.push({ question: `does ${archOf(g)} change ${m}?`, a: g.label, b: base.label, metric: m, d: differenceInterval(values(g, m), values(base, m)) });
  }
  for (const g of a.groups) {
    const c = g.trials[0]?.config;
    if (c === undefined) continue;
    const vae = a.groups.find((h) => {
      const hc = h.trials[0]?.config;
      return hc !== undefined && hc.variant === 'beta-vae' && hc.paramValue === 1 && hc.architecture === c.architecture && hc.latentSize === c.latentSize;
    });
    if (vae === undefined || vae === g) continue;
    for (const m of metrics) out.push({ question: `${c.variant} against the plain VAE: ${m}`, a: g.label, b: vae.label, metric: m, d: differenceInterval(values(g, m), values(vae, m)) });
  }
  return out;
}
