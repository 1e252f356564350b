// A PBT boundary (Jaderberg et al. 2017, Sec. 3): with every member paused at the same step, the bottom quantile by
// fitness each copy a top member's checkpoint into its own run (exploit) and take the donor's hyperparameters times
// a factor each (explore); every member's next lineage entry is written. The draws come from boundaryRng (the
// spec's pbt.seed and the generation), so a replay, or a worker that died mid-copy, chooses the same donors. The copy
// is an activity whose destination is named for member and generation: a retried copy finds it done.
// Workflow code: deterministic.
import { proxyActivities } from '@temporalio/workflow';

import { boundaryRng, chooseExploits, pbtOf, perturb } from '../src/sweep/pbt-plan.js';
import { controlQueue } from '../src/contract/index.js';
import type { PbtMember, PbtState, SweepSpec } from '../src/contract/types.js';
import type { Activities } from '../workers/activities.js';
import type { MemberCursor } from './pbt-members.js';
import { TERMINAL, type SweepRun } from './sweep-state.js';

/** The copy heartbeats per file, so a worker that died mid-copy is noticed within the spec's heartbeat timeout. */
export function pbtActivities(spec: SweepSpec): Activities {
  return proxyActivities<Activities>({
    taskQueue: controlQueue(spec.taskQueue),
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: `${spec.retry.heartbeatTimeoutSeconds}s`,
    retry: { maximumAttempts: spec.retry.activityMaxAttempts, initialInterval: '1s', nonRetryableErrorTypes: ['BadCheckpoint'] },
  });
}

/** Exploit and explore at the end of generation `g`; appends generation g + 1 to every live member's lineage. */
export async function exploitAndExplore(r: SweepRun, copy: Activities, state: PbtState, cursors: MemberCursor[], g: number): Promise<void> {
  const pbt = pbtOf(r.spec);
  const live = state.members.filter((m) => !TERMINAL.has(r.byKey.get(m.key)?.state ?? 'failed'));
  const rng = boundaryRng(pbt, g);
  const chosen = chooseExploits(
    live.map((m) => m.lineage[g]?.fitness),
    pbt.fitness,
    pbt.quantile,
    rng,
  ).map((e) => ({ member: live[e.member] as PbtMember, donor: live[e.donor] as PbtMember }));
  const step = (g + 1) * pbt.interval;
  for (const m of live) {
    const now = m.lineage[g];
    if (!now) continue;
    const exploit = chosen.find((e) => e.member.member === m.member);
    if (!exploit) {
      m.lineage.push({ generation: g + 1, step, parent: m.member, hyperparameters: now.hyperparameters });
      continue;
    }
    const donor = exploit.donor;
    const from = cursors[donor.member]?.checkpoint;
    const cursor = cursors[m.member] as MemberCursor;
    const hyperparameters = perturb(donor.lineage[g]?.hyperparameters ?? now.hyperparameters, pbt.perturb, rng);
    if (!from) {
      // the donor has no checkpoint at the boundary (untracked and lost): the member keeps its own
      m.lineage.push({ generation: g + 1, step, parent: m.member, hyperparameters: now.hyperparameters });
      continue;
    }
    const toRunId = r.byKey.get(m.key)?.mlflowRunId;
    const seed = r.byKey.get(m.key)?.seed ?? 0;
    const copied = await copy.copyPbtCheckpoint({ from, ...(toRunId ? { toRunId } : {}), member: m.member, generation: g + 1, seed });
    cursor.checkpoint = copied.checkpoint;
    m.lineage.push({ generation: g + 1, step, parent: donor.member, hyperparameters, copied: copied.checkpoint.uri, fresh: copied.fresh });
  }
}
