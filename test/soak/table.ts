// The soak's verdict as two Markdown tables (so a run's output can go into docs/durability.md as it is): the faults
// injected, and the invariants with held/violated, their counts and the first examples.
import { FAULT_KINDS, FAULT_WHAT, type FaultKind } from './schedule.js';
import type { FaultOutcome } from './faults.js';
import type { InvariantResult } from './invariants.js';

const EXAMPLES = 3;

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function faultTable(outcomes: readonly FaultOutcome[]): string {
  const lines = ['| fault | injected | skipped | first hits |', '|---|---|---|---|'];
  for (const kind of FAULT_KINDS) {
    const of = outcomes.filter((o) => o.event.kind === (kind as FaultKind));
    if (of.length === 0) continue;
    const hit = of.filter((o) => o.injected);
    const skipped = of.filter((o) => !o.injected);
    const examples = [...hit.slice(0, EXAMPLES).map((o) => `t+${o.startedAt} s: ${o.detail}`), ...skipped.slice(0, 1).map((o) => `skipped: ${o.detail}`)];
    lines.push(`| ${kind} (${FAULT_WHAT[kind]}) | ${hit.length} | ${skipped.length} | ${cell(examples.join('; '))} |`);
  }
  return lines.join('\n');
}

export function invariantTable(results: readonly InvariantResult[]): string {
  const lines = ['| invariant | checked | verdict | first violations |', '|---|---|---|---|'];
  for (const r of results) {
    const verdict = r.violations.length === 0 ? 'held' : `VIOLATED (${r.violations.length})`;
    const first = r.violations.slice(0, EXAMPLES).join('; ');
    lines.push(`| ${cell(r.name)} | ${r.checked} ${r.unit}${r.note ? ` (${cell(r.note)})` : ''} | ${verdict} | ${cell(first)} |`);
  }
  return lines.join('\n');
}
