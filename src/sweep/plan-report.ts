// `dcign sweep plan <spec>` (and `sweep start --dry-run`): the plan as text or JSON, with the cost estimate.
import { loadSweepSpec } from './spec.js';
import { estimateHours, planSweep, type Estimate, type StepTime, type SweepPlan } from './plan.js';
import { workerFileNotice } from './worker-file.js';

export interface PlanArgs {
  readonly spec: string;
  /** Confirmed ceiling on the number of trials. */
  readonly maxTrials?: number;
  /** A step time measured elsewhere (e.g. `npm run bench:train` on a worker), for every shape; skips measuring. */
  readonly stepTimeMs?: number;
  /** Steps timed per shape on this host (0: no estimate). */
  readonly measureSteps?: number;
  readonly format?: 'table' | 'json';
}

/** Validates and plans the spec (throws listing every problem), measures step times, prints. Returns the plan. */
export async function printPlan(a: PlanArgs, print: (line: string) => void = console.log): Promise<{ plan: SweepPlan; estimate?: Estimate }> {
  const spec = loadSweepSpec(a.spec);
  const plan = planSweep(spec, { ...(a.maxTrials !== undefined ? { maxTrials: a.maxTrials } : {}), source: a.spec });
  let stepTimes: Map<string, StepTime> | undefined;
  if (a.stepTimeMs !== undefined) {
    const given: StepTime = { msPerStep: a.stepTimeMs, source: 'given with --step-time-ms' };
    stepTimes = new Map([...plan.shapes.keys()].map((k) => [k, given]));
  } else if ((a.measureSteps ?? 3) > 0) {
    const { measureStepTimes } = await import('./step-time.js');
    stepTimes = await measureStepTimes(plan, { steps: a.measureSteps ?? 3 });
  }
  const estimate = stepTimes ? estimateHours(plan, stepTimes) : undefined;
  // A worker file missing here is warned about on stderr, so JSON on stdout stays parseable.
  const fileNotice = workerFileNotice(plan.workerFile, spec.taskQueue);
  if (fileNotice?.level === 'warning') console.warn(`warning: ${fileNotice.message}`);
  if (a.format === 'json') {
    print(JSON.stringify(planJson(plan, estimate), null, 2));
    return { plan, ...(estimate ? { estimate } : {}) };
  }
  for (const line of planText(plan, estimate)) print(line);
  return { plan, ...(estimate ? { estimate } : {}) };
}

function planJson(plan: SweepPlan, estimate: Estimate | undefined): unknown {
  const { spec } = plan;
  return {
    name: spec.name,
    dataset: spec.dataset,
    ...(plan.workerFile ? { workerFile: plan.workerFile } : {}),
    taskQueue: spec.taskQueue,
    trials: plan.trials.map((t) => ({ key: t.key, params: t.params, seed: t.seed, steps: t.steps, shape: t.shape, replicas: plan.replicasPerTrial })),
    replicasPerTrial: plan.replicasPerTrial,
    maxConcurrentTrials: spec.maxConcurrentTrials,
    slotsAtOnce: plan.slotsAtOnce,
    ...(estimate ? { estimate } : {}),
  };
}

const hours = (h: number): string => (h >= 10 ? h.toFixed(0) : h >= 0.1 ? h.toFixed(2) : h.toPrecision(2));

function planText(plan: SweepPlan, estimate: Estimate | undefined): string[] {
  const { spec } = plan;
  const n = plan.trials.length;
  const lines = [
    `sweep '${spec.name}': ${n} trial${n === 1 ? '' : 's'} x ${plan.replicasPerTrial} replica${plan.replicasPerTrial === 1 ? '' : 's'}, dataset ${spec.dataset}, task queue ${spec.taskQueue}`,
    `slots: each trial holds ${plan.replicasPerTrial} worker slot(s) (a GPU, or a CPU slot) while it trains; ${Math.min(n, spec.maxConcurrentTrials)} trial(s) at once (maxConcurrentTrials ${spec.maxConcurrentTrials}) -> ${plan.slotsAtOnce} slot(s) busy`,
  ];
  const opt = spec.search.optimize;
  if (opt) {
    const s = spec.search.seeds.length;
    lines.push(
      `search.optimize: ${opt.sampler} proposes ${opt.trials} configurations x ${s} seeds = ${opt.trials * s} trials, ${opt.batch} configuration(s) at a time; ` +
        `objective${opt.objectives.length > 1 ? 's' : ''} ${opt.objectives.map((o) => `${o.metric} (${o.mode}${o.aggregate === 'lcb' ? `, lcb ${o.stdErrors ?? 1} SE` : ''})`).join(', ')}. ` +
        'The trials below are the corners of its space (checked by the trainer); the estimate covers them only.',
    );
  }
  const pbt = spec.search.pbt;
  if (pbt) {
    lines.push(
      `search.pbt: ${pbt.population} members, ${spec.train.steps / pbt.interval} generations of ${pbt.interval} steps; at each boundary the bottom ` +
        `${Math.floor(pbt.quantile * pbt.population)} by ${pbt.fitness.metric} (${pbt.fitness.mode}) copy a top member's checkpoint and perturb ` +
        `${Object.entries(pbt.perturb).map(([k, f]) => `${k} x ${f.join('|')}`).join(', ')}`,
    );
  }
  if (plan.workerFile) lines.push(`worker file: every worker host on ${spec.taskQueue} must hold ${plan.workerFile} (checked here for form only; a trial on a host without it fails at once, naming the host)`);
  lines.push('');
  const widths = [Math.max(5, ...plan.trials.map((t) => t.key.length)), Math.max(5, ...plan.trials.map((t) => t.shape.length))];
  lines.push(`${'trial'.padEnd(widths[0] as number)}  ${'shape'.padEnd(widths[1] as number)}  steps`);
  for (const t of plan.trials) lines.push(`${t.key.padEnd(widths[0] as number)}  ${t.shape.padEnd(widths[1] as number)}  ${t.steps}`);
  lines.push('');
  if (!estimate) {
    lines.push('estimate: none (--measure-steps 0); give --step-time-ms or measure to get GPU/CPU-hours');
    return lines;
  }
  lines.push('step time per replica (shape: ms/step, source):');
  for (const s of estimate.perShape) lines.push(`  ${s.shape}: ${s.msPerStep.toFixed(1)} ms/step (${s.source})`);
  lines.push('estimate: GPU/CPU-hours = trials x steps x step time x replicas');
  for (const s of estimate.perShape) {
    lines.push(`  ${s.shape}: ${s.trials} trial(s), ${s.steps} steps in all x ${s.msPerStep.toFixed(1)} ms x ${plan.replicasPerTrial} replica(s) = ${hours(s.slotHours)} slot-hours`);
  }
  lines.push(`  total: ${hours(estimate.slotHours)} slot-hours (GPU-hours on GPU workers at this step time, CPU-slot-hours on CPU workers); at least ${hours(estimate.wallHours)} h of wall time at ${Math.min(n, spec.maxConcurrentTrials)} trial(s) at once`);
  return lines;
}
