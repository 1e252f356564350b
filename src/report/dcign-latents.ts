// DCIGN's own claim, per trial (Kulkarni et al. 2015, Sec. 3.1): each latent assigned to a factor carries that factor
// and not the others. From the evaluation's factor x latent mutual information (normalised by the factor's entropy):
// for each assigned factor, the most its latents share with it, against the most they share with any other factor.
// Pure.
import type { TrialRecord } from './gather.js';

export interface AssignedLatent {
  readonly factor: string;
  readonly latents: readonly number[];
  /** max over its latents of MI(latent, factor) / H(factor). */
  readonly own: number;
  /** The other factor its latents share most with, and that normalised MI. */
  readonly rival: { readonly factor: string; readonly value: number } | undefined;
  /** Its latents carry more of their own factor than of any other. */
  readonly carries: boolean;
}

export function assignedLatents(t: TrialRecord): AssignedLatent[] | undefined {
  const mi = t.mutualInfo;
  if (t.assignment === undefined || mi === undefined) return undefined;
  const out: AssignedLatent[] = [];
  for (const [factor, latents] of Object.entries(t.assignment)) {
    const k = mi.factorNames.indexOf(factor);
    if (k < 0 || latents.length === 0) continue;
    const most = (row: readonly number[] | undefined): number => Math.max(...latents.map((l) => row?.[l] ?? 0));
    const own = most(mi.normalised[k]);
    let rival: AssignedLatent['rival'];
    mi.factorNames.forEach((name, j) => {
      if (j === k) return;
      const v = most(mi.normalised[j]);
      if (rival === undefined || v > rival.value) rival = { factor: name, value: v };
    });
    out.push({ factor, latents, own, rival, carries: rival === undefined || own > rival.value });
  }
  return out.length > 0 ? out : undefined;
}
