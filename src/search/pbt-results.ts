// `sweep results` for search.pbt: each member's lineage, one row per member and generation: the step its
// hyperparameters took effect from, the member whose checkpoint it continued (itself, or the donor it exploited),
// those hyperparameters, and its fitness at the generation's end.
import { formatValue } from '../sweep/expand.js';
import type { PbtState, SweepSpec } from '../contract/types.js';

export function lineageRows(pbt: PbtState, spec: SweepSpec): Record<string, unknown>[] {
  const fitness = spec.search.pbt?.fitness.metric ?? 'fitness';
  const rows: Record<string, unknown>[] = [];
  for (const m of pbt.members) {
    for (const g of m.lineage) {
      const row: Record<string, unknown> = { member: m.member, generation: g.generation, step: g.step, parent: g.parent, exploited: g.parent === m.member ? '' : `from ${g.parent}` };
      for (const [k, v] of Object.entries(g.hyperparameters)) row[k] = Number(formatValue(v));
      row[fitness] = g.fitness;
      rows.push(row);
    }
  }
  return rows.sort((a, b) => (a.generation as number) - (b.generation as number) || (a.member as number) - (b.member as number));
}
