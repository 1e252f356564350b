// What a study report is built from, read from MLflow alone (so it works for any past sweep): the sweep's parent run
// (its spec: objective and metrics), each trial run's configuration, seed, final losses and evaluation metrics, and
// the evaluation's posterior audit and factor x latent mutual information (artifacts under eval/).
import { PARAMS, VARIANT_AXIS, type ModelVariant, type Objective } from '../contract/types.js';
import type { PosteriorReport } from '../eval/evaluate-checkpoint.js';
import { DEFAULT_FACTOR_VAE, DEFAULT_MMD, defaultBeta } from '../model/config.js';
import type { LossWeights } from '../sweep/loss-identity.js';
import type { MlflowClient, Run } from '../tracking/index.js';

/** A configuration: everything of a trial but its seed. */
export interface Configuration {
  readonly variant: string;
  readonly architecture: string;
  /** The variant's own parameter (VARIANT_AXIS) and its value. */
  readonly param: string;
  readonly paramValue: number;
  readonly latentSize: number;
  /**
   * Every other swept key of the trial (from its trial key, as `dcign sweep results` keeps configurations apart):
   * e.g. `{clamp: 'mean', lr: '0.0002'}`. Empty when the sweep crossed only variant, parameter, architecture, latent.
   */
  readonly swept: Readonly<Record<string, string>>;
  /** e.g. `beta-vae standard beta=4 z=6`, then each other swept key: `dcign standard beta=1 z=32 clamp=mean`. */
  readonly label: string;
}

export interface MutualInfo {
  readonly factorNames: string[];
  /** [factor][latent], divided by the factor's entropy (1 = the latent determines the factor). */
  readonly normalised: number[][];
}

export interface TrialRecord {
  readonly runId: string;
  readonly name: string;
  readonly status: string;
  readonly seed: number;
  readonly config: Configuration;
  /** Final training losses (recon, kl), evaluation metrics (without their `eval/` prefix) and udr when logged. */
  readonly metrics: Record<string, number>;
  readonly posterior?: PosteriorReport;
  readonly mutualInfo?: MutualInfo;
  /** Per-latent KL from training (kl_0, kl_1, ...), where the evaluation has no posterior audit. */
  readonly trainKlPerLatent?: number[];
  /** The final log step's loss and regulariser (bookkeeping, not results) for the plan's loss check. */
  readonly lossTerms?: Record<string, number>;
  /** The configured weights of the trial's loss (params, with the model's defaults where a param is absent). */
  readonly weights?: LossWeights;
  /** DCIGN: the factor -> latents assignment it trained with (params model.dcign.assignment.<factor>). */
  readonly assignment?: Record<string, number[]>;
  /** A PBT member (tag pbt.member): its lineage from its run's pbt/* metrics. */
  readonly pbt?: PbtLineage;
}

/** A PBT member's lineage as its MLflow run records it (workers/pbt-activities.ts). */
export interface PbtLineage {
  readonly member: number;
  readonly generations: readonly {
    readonly generation: number;
    /** The step its hyperparameters took effect from. */
    readonly step: number;
    readonly parent: number;
    readonly hyperparameters: Readonly<Record<string, number>>;
    /** Its fitness at the generation's end. */
    readonly fitness?: number;
  }[];
}

export interface StudyData {
  readonly sweep: string;
  readonly experimentId: string;
  readonly parentRunId: string;
  readonly trackingUri: string;
  readonly dataset: string;
  /** The spec's objective, when it names one. */
  readonly objective?: Objective;
  /** The spec's evaluation metrics (spec names: mig, dci, beta-vae, ...). */
  readonly specMetrics: string[];
  /** search.pbt: the fitness that ranked the members. */
  readonly pbtFitness?: string;
  readonly trials: TrialRecord[];
}

/** Keys of a trial run that are bookkeeping rather than results. */
const NOT_RESULTS = /^(kl_\d+|steps_per_s|images_per_s|regulariser|loss|final\/.*|trials\/.*|system\/.*|pbt\/.*)$/;

export class StudyNotFoundError extends Error {}

export async function gatherStudy(client: MlflowClient, sweep: string, trackingUri: string): Promise<StudyData> {
  const exp = await client.getExperimentByName(sweep);
  if (exp === undefined) {
    throw new StudyNotFoundError(`no MLflow experiment named '${sweep}' at ${trackingUri}: give the sweep's name (\`dcign sweep list\`) and the MLflow server it logged to (MLFLOW_TRACKING_URI)`);
  }
  const runs = await client.searchRuns({ experimentIds: [exp.experimentId] });
  const parents = runs.filter((r) => r.data.tags['dcign.role'] === 'sweep').sort((a, b) => b.info.startTime - a.info.startTime);
  const parent = parents[0];
  if (parent === undefined) throw new StudyNotFoundError(`experiment '${sweep}' has no sweep run (tag dcign.role=sweep): was it made by \`dcign sweep start\`?`);
  const spec = await readJson<{ objective?: Objective; evaluation?: { metrics?: string[] }; dataset?: string; search?: { pbt?: { fitness?: Objective } } }>(
    client,
    parent.info.runId,
    `spec/${sweep}.json`,
  );
  const children = runs.filter((r) => r.data.tags['mlflow.parentRunId'] === parent.info.runId);
  const trials = await Promise.all(children.map((r) => trialRecord(client, r)));
  trials.sort((a, b) => a.config.label.localeCompare(b.config.label) || a.seed - b.seed);
  return {
    sweep,
    experimentId: exp.experimentId,
    parentRunId: parent.info.runId,
    trackingUri,
    dataset: spec?.dataset ?? parent.data.params.dataset ?? '',
    ...(spec?.objective ? { objective: spec.objective } : {}),
    specMetrics: spec?.evaluation?.metrics ?? [],
    ...(spec?.search?.pbt?.fitness ? { pbtFitness: spec.search.pbt.fitness.metric } : {}),
    trials,
  };
}

/** Short names (trial-key form) of the keys the label already shows: variant, architecture, latent size, seed. */
const IN_LABEL = new Set(['variant', 'arch', 'latent', 'seed']);

/**
 * A trial run's configuration from its params and tags. Every key its trial key (tag dcign.trial) sweeps beyond the
 * ones the label already shows is part of the configuration, so trials that differ only in e.g. model.dcign.clamp
 * are two configurations, never pooled (issue 33).
 */
export function configurationOf(p: Readonly<Record<string, string>>, tags: Readonly<Record<string, string>>): Configuration {
  const variant = tags['dcign.variant'] ?? p['model.variant'] ?? 'beta-vae';
  const architecture = tags['dcign.architecture'] ?? p['model.architecture'] ?? 'standard';
  const param = VARIANT_AXIS[variant as ModelVariant] ?? 'beta';
  const path = PARAMS[param]?.variants?.[variant as ModelVariant] ?? `model.${param}`;
  const paramValue = Number(p[path]);
  const latentSize = Number(p['model.latentSize']);
  const ownShort = PARAMS[param]?.short ?? param;
  const swept: Record<string, string> = {};
  for (const pair of (tags['dcign.trial'] ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq);
    if (IN_LABEL.has(key) || key === ownShort) continue;
    swept[key.replace(/^model\.(dcign|mmd|capacity|dip|factorVae)\./, '')] = pair.slice(eq + 1);
  }
  const extra = Object.entries(swept).map(([k, v]) => ` ${k}=${v}`).join('');
  return {
    variant,
    architecture,
    param,
    paramValue,
    latentSize,
    swept,
    label: `${variant} ${architecture} ${param}=${Number.isFinite(paramValue) ? paramValue : '?'} z=${Number.isFinite(latentSize) ? latentSize : '?'}${extra}`,
  };
}

/** A trial run's record; its evaluation artifacts when they are there (a failed trial has none). */
export async function trialRecord(client: MlflowClient, run: Run): Promise<TrialRecord> {
  const p = run.data.params;
  const config = configurationOf(p, run.data.tags);
  const metrics: Record<string, number> = {};
  const lossTerms: Record<string, number> = {};
  const klj: number[] = [];
  for (const [key, point] of Object.entries(run.data.metrics)) {
    const m = /^kl_(\d+)$/.exec(key);
    if (m) klj[Number(m[1])] = point.value;
    if ((key === 'loss' || key === 'regulariser') && Number.isFinite(point.value)) lossTerms[key] = point.value;
    if (NOT_RESULTS.test(key) || !Number.isFinite(point.value)) continue;
    metrics[key.replace(/^eval\//, '')] = point.value;
  }
  const [posterior, evalJson] = await Promise.all([
    readJson<PosteriorReport>(client, run.info.runId, 'eval/posterior.json'),
    readJson<{ factorNames?: string[]; mutualInfo?: number[][]; factorEntropy?: number[] }>(client, run.info.runId, 'eval/metrics.json'),
  ]);
  const pbt = run.data.tags['pbt.member'] === undefined ? undefined : await pbtLineage(client, run);
  const mi = evalJson?.mutualInfo;
  const entropy = evalJson?.factorEntropy;
  return {
    runId: run.info.runId,
    name: run.info.runName,
    status: run.info.status,
    seed: Number(p.seed),
    config,
    metrics,
    ...(posterior ? { posterior } : {}),
    ...(mi && entropy && evalJson?.factorNames && mi.length > 0
      ? { mutualInfo: { factorNames: evalJson.factorNames, normalised: mi.map((row, k) => row.map((v) => v / ((entropy[k] as number) || 1))) } }
      : {}),
    ...(klj.length > 0 ? { trainKlPerLatent: Array.from(klj, (v) => v ?? NaN) } : {}),
    lossTerms,
    weights: lossWeightsOf(config.variant as ModelVariant, p),
    ...(assignmentOf(p) ? { assignment: assignmentOf(p) } : {}),
    ...(pbt ? { pbt } : {}),
  };
}

/** The lineage from pbt/generation, pbt/parent, pbt/<hyperparameter> (at each generation's step) and pbt/fitness. */
async function pbtLineage(client: MlflowClient, run: Run): Promise<PbtLineage> {
  const runId = run.info.runId;
  const keys = Object.keys(run.data.metrics).filter((k) => k.startsWith('pbt/'));
  const history = new Map(await Promise.all(keys.map(async (k) => [k, await client.getMetricHistory(runId, k)] as const)));
  const at = (key: string, step: number): number | undefined => history.get(key)?.find((x) => x.step === step)?.value;
  const hyper = keys.filter((k) => !['pbt/generation', 'pbt/parent', 'pbt/fitness'].includes(k));
  const starts = (history.get('pbt/generation') ?? []).map((x) => ({ generation: x.value, step: x.step })).sort((a, b) => a.step - b.step);
  const fitness = (history.get('pbt/fitness') ?? []).slice().sort((a, b) => a.step - b.step);
  return {
    member: Number(run.data.tags['pbt.member']),
    generations: starts.map(({ generation, step }) => {
      const f = fitness.find((x) => x.step > step)?.value; // measured at the generation's end
      return {
        generation,
        step,
        parent: at('pbt/parent', step) ?? Number(run.data.tags['pbt.member']),
        hyperparameters: Object.fromEntries(hyper.flatMap((k) => (at(k, step) === undefined ? [] : [[k.slice(4), at(k, step) as number]]))),
        ...(f !== undefined ? { fitness: f } : {}),
      };
    }),
  };
}

/** A DCIGN trial's assignment from its params (each `model.dcign.assignment.<factor>` a JSON list of latents). */
export function assignmentOf(p: Readonly<Record<string, string>>): Record<string, number[]> | undefined {
  const out: Record<string, number[]> = {};
  for (const [key, value] of Object.entries(p)) {
    const m = /^model\.dcign\.assignment\.(.+)$/.exec(key);
    if (!m) continue;
    try {
      const latents = JSON.parse(value) as unknown;
      if (Array.isArray(latents) && latents.every((l) => Number.isInteger(l))) out[m[1] as string] = latents as number[];
    } catch {
      // not a list: the run was not made by dcign's trainer; leave that factor out
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A trial's loss weights from its run params; a weight its params do not carry is the model's default. */
export function lossWeightsOf(variant: ModelVariant, p: Readonly<Record<string, string>>): LossWeights {
  const num = (key: string, fallback: number): number => (p[key] !== undefined && Number.isFinite(Number(p[key])) ? Number(p[key]) : fallback);
  return {
    variant,
    beta: num('model.beta', defaultBeta(variant)),
    mmd: { ...DEFAULT_MMD, alpha: num('model.mmd.alpha', DEFAULT_MMD.alpha), lambda: num('model.mmd.lambda', DEFAULT_MMD.lambda) },
    factorVae: { ...DEFAULT_FACTOR_VAE, gamma: num('model.factorVae.gamma', DEFAULT_FACTOR_VAE.gamma) },
  };
}

async function readJson<T>(client: MlflowClient, runId: string, artifact: string): Promise<T | undefined> {
  try {
    return JSON.parse((await client.readArtifact(runId, artifact)).toString('utf8')) as T;
  } catch {
    return undefined; // not there (a failed trial, an older sweep): the report says what is missing
  }
}
