// search.optimize inside sweepWorkflow: a loop beside the sweep's own that keeps `batch` configurations in flight.
// Each round tells Optuna the configurations whose seed runs all ended (their aggregate, or pruned/failed), then asks
// for as many new ones as the batch has room for; both happen in one activity, whose result (the asked points) is in
// the history, so the workflow replays deterministically. The new configurations' seed runs join the sweep's queue
// like any other trials (slots, pause, early stopping, continue-as-new all apply). Its state lives in progress.search.
import { condition, proxyActivities, workflowInfo } from '@temporalio/workflow';

import { configTrials, directions, driverSpace } from '../src/search/plans.js';
import { outcomeOf, paretoFront } from '../src/search/aggregate.js';
import { controlQueue } from '../src/contract/index.js';
import type { OptimizeSearch, SearchConfig, SearchState, SweepProgress, SweepSpec, TrialPlan, TrialStatus } from '../src/contract/types.js';
import type { SearchActivities, TellItem } from '../workers/search-activities.js';
import { failureMessage } from './failure-message.js';

const ENDED = new Set(['completed', 'stopped', 'failed', 'cancelled']);

export interface Optimizer {
  /** Every configuration asked and told (or the search failed): the sweep may end once its trials have. */
  done(): boolean;
  /** No ask/tell in flight: the sweep may continue as new. */
  idle(): boolean;
  stop(): void;
}

/** Starts the search loop of a sweep with search.optimize; `add` queues trials the way `sweep add` does. */
export function startOptimizer(spec: SweepSpec, progress: SweepProgress, add: (plans: TrialPlan[]) => void): Optimizer {
  const given = spec.search.optimize;
  if (!given) throw new Error('startOptimizer without search.optimize');
  const opt: OptimizeSearch = given;
  const search = proxyActivities<SearchActivities>({
    taskQueue: controlQueue(spec.taskQueue),
    startToCloseTimeout: '10 minutes',
    retry: { maximumAttempts: spec.retry.activityMaxAttempts, initialInterval: '1s' },
  });
  // One study per sweep run chain: a resumed or continued run keeps it; a new start of the same name gets its own.
  const state: SearchState = (progress.search ??= { study: `${spec.name}-${workflowInfo().firstExecutionRunId.slice(0, 8)}`, asks: 0, configs: [] });
  const space = driverSpace(spec);
  const dirs = directions(spec);
  let busy = false;
  let stopped = false;
  let complete = false; // asked, told and the MLflow runs marked

  const status = (key: string): TrialStatus | undefined => progress.trials.find((t) => t.key === key);
  const runsOf = (c: SearchConfig): TrialStatus[] => c.keys.map(status).filter((t): t is TrialStatus => t !== undefined);
  const ended = (c: SearchConfig): boolean => !c.told && runsOf(c).length === c.keys.length && runsOf(c).every((t) => ENDED.has(t.state));
  const inFlight = (): number => state.configs.filter((c) => !c.told).length;
  const room = (): number => Math.min(opt.batch - inFlight(), opt.trials - state.configs.length);
  const finished = (): boolean => state.error !== undefined || (state.configs.length >= opt.trials && state.configs.every((c) => c.told));

  void (async () => {
    while (!stopped && !finished()) {
      await condition(() => stopped || state.configs.some(ended) || room() > 0);
      if (stopped) return;
      busy = true;
      try {
        await round();
      } catch (err) {
        state.error = `the search stopped: ${failureMessage(err)}`;
      } finally {
        busy = false;
      }
    }
    if (stopped) return;
    if (state.error === undefined) {
      busy = true;
      await markRuns().catch((err: unknown) => void (state.error = `marking the MLflow runs: ${failureMessage(err)}`));
      busy = false;
    }
    complete = true;
  })();

  return { done: () => stopped || complete, idle: () => !busy, stop: () => void (stopped = true) };

  async function round(): Promise<void> {
    const telling = state.configs.filter(ended);
    const tell: TellItem[] = telling.map((c) => {
      const o = outcomeOf(runsOf(c), opt.objectives);
      Object.assign(c, o);
      return {
        number: c.number,
        state: o.state,
        ...(o.values ? { values: o.values } : {}),
        attrs: { ...(o.mean ? { mean: o.mean, se: o.se, seedValues: o.seedValues } : {}), ...(o.note ? { note: o.note } : {}), trials: c.keys },
      };
    });
    const n = Math.max(0, Math.min(opt.batch - (inFlight() - telling.length), opt.trials - state.configs.length));
    const r = await search.searchStep({
      sweep: spec.name,
      study: state.study,
      directions: dirs,
      sampler: opt.sampler,
      seed: opt.seed,
      space,
      tell,
      ask: n,
      request: String(state.asks),
      asks: state.asks,
      ...(opt.population !== undefined ? { population: opt.population } : {}),
      ...(opt.startup !== undefined ? { startup: opt.startup } : {}),
    });
    state.storage = r.storage;
    for (const c of telling) c.told = true;
    if (n > 0) state.asks += 1;
    const front = paretoFront(state.configs, opt.objectives);
    for (const c of state.configs) if (c.state === 'complete') c.pareto = front.has(c.number);
    const plans: TrialPlan[] = [];
    for (const a of r.asked) {
      if (state.configs.some((c) => c.number === a.number)) continue;
      const trials = configTrials(spec, a.number, a.params);
      state.configs.push({ number: a.number, params: a.params, keys: trials.map((t) => t.key), told: false });
      plans.push(...trials);
    }
    if (plans.length > 0) add(plans);
  }

  /** The trials' MLflow runs get their configuration's aggregate objectives and whether it is on the Pareto front. */
  async function markRuns(): Promise<void> {
    const runs: { runId: string; tags: Record<string, string> }[] = [];
    for (const c of state.configs) {
      for (const t of runsOf(c)) {
        if (!t.mlflowRunId) continue;
        const tags: Record<string, string> = { 'dcign.search.config': String(c.number), 'dcign.search.state': c.state ?? 'unknown', pareto: String(c.pareto === true) };
        opt.objectives.forEach((o, i) => {
          if (c.values?.[i] !== undefined) tags[`dcign.objective.${o.metric}`] = String(c.values[i]);
          if (c.mean?.[i] !== undefined) tags[`dcign.objective.${o.metric}.mean`] = String(c.mean[i]);
          if (c.se?.[i] !== undefined) tags[`dcign.objective.${o.metric}.se`] = String(c.se[i]);
        });
        runs.push({ runId: t.mlflowRunId, tags });
      }
    }
    if (runs.length > 0) await search.markSearchRuns({ runs });
  }
}
