// Which ground-truth factors each configuration disentangles (the study's first question, per factor rather than as
// one averaged score). For factor k, MIG's own term (Chen et al. 2018, Eq. 6, before the average over factors):
//   gap_k = (I(z_j*; v_k) - I(z_j°; v_k)) / H(v_k),
// the normalised mutual information of the latent sharing most with v_k minus that of the runner-up. A factor is
// disentangled when one latent carries much of it and no other does (gap near 1); captured but entangled when two
// latents share it (high best, low gap). Per configuration: mean and interval over seeds (stats.ts seedInterval), and
// the difference to the plain VAE (beta-vae at beta 1) of the same architecture and latent size, Welch's 95% interval,
// so a cell says whether a model's advantage on that factor is settled or inside the seed noise. Pure.
import type { Analysis, ConfigGroup } from './analysis.js';
import type { TrialRecord } from './gather.js';
import { differenceInterval, seedInterval, type Difference, type MeanCi } from './stats.js';

export interface FactorScore {
  /** MIG's term of this factor: best latent's normalised MI minus the runner-up's. */
  readonly gap: number;
  /** The best latent's normalised MI with the factor, and which latent it is. */
  readonly best: number;
  readonly latent: number;
}

export interface FactorCell {
  readonly gap: MeanCi;
  readonly best: MeanCi;
  /** The latent that is best in most seeds (ties: the lowest index), and in how many. */
  readonly latent: { readonly index: number; readonly seeds: number } | undefined;
  /** gap minus the plain VAE's gap, same architecture and latent size; undefined for the plain VAE itself or without one. */
  readonly vsVae: Difference | undefined;
}

export interface FactorCapture {
  readonly factors: readonly string[];
  /** The plain VAE each row is compared with, per configuration label. */
  readonly baseline: ReadonlyMap<string, string>;
  /** [configuration label][factor] */
  readonly cells: ReadonlyMap<string, ReadonlyMap<string, FactorCell>>;
}

/** Per factor of one trial; undefined without the evaluation's factor x latent mutual information. */
export function factorScores(t: TrialRecord): Map<string, FactorScore> | undefined {
  const mi = t.mutualInfo;
  if (mi === undefined) return undefined;
  const out = new Map<string, FactorScore>();
  mi.factorNames.forEach((name, k) => {
    const row = mi.normalised[k] ?? [];
    if (row.length < 2) return;
    let latent = 0;
    row.forEach((v, j) => {
      if (v > (row[latent] as number)) latent = j;
    });
    const best = row[latent] as number;
    const second = Math.max(...row.filter((_, j) => j !== latent));
    out.set(name, { gap: best - second, best, latent });
  });
  return out;
}

function plainVae(a: Analysis, g: ConfigGroup): ConfigGroup | undefined {
  const c = g.trials[0]?.config;
  if (c === undefined) return undefined;
  return a.groups.find((h) => {
    const hc = h.trials[0]?.config;
    return hc !== undefined && hc.variant === 'beta-vae' && hc.paramValue === 1 && hc.architecture === c.architecture && hc.latentSize === c.latentSize && JSON.stringify(hc.swept) === JSON.stringify(c.swept);
  });
}

export function factorCapture(a: Analysis): FactorCapture | undefined {
  const scores = new Map<TrialRecord, Map<string, FactorScore>>();
  for (const g of a.groups) for (const t of g.trials) {
    const s = factorScores(t);
    if (s !== undefined) scores.set(t, s);
  }
  if (scores.size === 0) return undefined;
  const factors = [...new Set([...scores.values()].flatMap((s) => [...s.keys()]))];
  const values = (g: ConfigGroup, f: string, key: 'gap' | 'best'): number[] => g.trials.map((t) => scores.get(t)?.get(f)?.[key] ?? NaN);
  const baseline = new Map<string, string>();
  const cells = new Map<string, Map<string, FactorCell>>();
  for (const g of a.groups) {
    const vae = plainVae(a, g);
    if (vae !== undefined && vae !== g) baseline.set(g.label, vae.label);
    const row = new Map<string, FactorCell>();
    for (const f of factors) {
      const counts = new Map<number, number>();
      for (const t of g.trials) {
        const l = scores.get(t)?.get(f)?.latent;
        if (l !== undefined) counts.set(l, (counts.get(l) ?? 0) + 1);
      }
      const top = [...counts.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0])[0];
      row.set(f, {
        gap: seedInterval(values(g, f, 'gap')),
        best: seedInterval(values(g, f, 'best')),
        latent: top === undefined ? undefined : { index: top[0], seeds: top[1] },
        vsVae: vae === undefined || vae === g ? undefined : differenceInterval(values(g, f, 'gap'), values(vae, f, 'gap')),
      });
    }
    cells.set(g.label, row);
  }
  return { factors, baseline, cells };
}
