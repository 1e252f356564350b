// `sweep results` for search.optimize: one row per configuration Optuna proposed, with each objective's aggregate
// over the seeds, its interval (mean +/- k standard errors, k from the spec's stdErrors, else 1) and the Pareto front.
import { formatValue } from '../sweep/expand.js';
import type { SearchState, SweepSpec } from '../contract/types.js';

export function searchRows(search: SearchState, spec: SweepSpec): Record<string, unknown>[] {
  const objectives = spec.search.optimize?.objectives ?? [];
  const multi = objectives.length > 1;
  const rows = search.configs.map((c) => {
    const row: Record<string, unknown> = { config: c.number };
    for (const [k, v] of Object.entries(c.params)) row[k] = typeof v === 'number' ? Number(formatValue(v)) : v;
    row.state = c.told ? (c.state ?? '') : 'running';
    objectives.forEach((o, i) => {
      const mean = c.mean?.[i];
      const se = c.se?.[i];
      const k = o.stdErrors ?? 1;
      row[o.aggregate === 'lcb' ? `${o.metric} (lcb)` : o.metric] = c.values?.[i];
      if (mean !== undefined && se !== undefined) row[`${o.metric} mean±se`] = `${fmtNum(mean)} ± ${fmtNum(se)}`;
      if (mean !== undefined && se !== undefined) row[`${o.metric} interval`] = `[${fmtNum(mean - k * se)}, ${fmtNum(mean + k * se)}]`;
    });
    row.seeds = c.keys.length;
    if (multi) row.pareto = c.pareto === true ? '*' : '';
    if (c.note) row.note = c.note;
    return row;
  });
  const first = objectives[0];
  const key = (c: (typeof search.configs)[number]): number => {
    const v = c.state === 'complete' ? c.values?.[0] : undefined;
    return v === undefined ? Infinity : first?.mode === 'max' ? -v : v;
  };
  const order = search.configs.map((c, i) => ({ c, i })).sort((a, b) => (multi ? Number(b.c.pareto === true) - Number(a.c.pareto === true) : 0) || key(a.c) - key(b.c) || a.c.number - b.c.number);
  return order.map(({ i }) => rows[i] as Record<string, unknown>);
}

function fmtNum(v: number): string {
  return String(Number(v.toPrecision(4)));
}
