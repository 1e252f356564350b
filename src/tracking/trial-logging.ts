// What a trial and a sweep put in MLflow, so every run looks the same in the UI: params flattened from the training
// config, standard tags, a readable run name, the trial's artifacts; and for the sweep's parent run, the spec file.
// The sweep's summary (rows, CSV, markdown, plots) is sweep-summary.ts.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PARAMS, VARIANT_AXIS, type ModelVariant } from '../contract/types.js';
import { modelParamCounts } from '../model/param-specs.js';
import { plotLossCurves } from '../viz/plot.js';
import { stepTags } from '../graph/support.js';
import type { MlflowClient } from './client.js';
import type { Run } from './wire.js';

/**
 * Flattens a config object into MLflow params: nested keys joined with '.', arrays and other non-scalars as compact
 * JSON, undefined skipped. `{model: {beta: 4, encoderKernels: [4, 4, 2, 2]}}` gives `model.beta = '4'` and
 * `model.encoderKernels = '[4,4,2,2]'`.
 */
export function flattenParams(obj: unknown, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (v: unknown, key: string): void => {
    if (v === undefined || typeof v === 'function') return;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0 && key !== '') out[key] = '{}';
      for (const [k, child] of entries) walk(child, key === '' ? k : `${key}.${k}`);
      return;
    }
    if (key === '') return;
    out[key] = typeof v === 'string' ? v : JSON.stringify(v);
  };
  walk(obj, prefix);
  return out;
}

/** A run name people can read in the UI's run list: `beta=4 z=10 seed=1`, plus a variant when it is not the default. */
export function trialRunName(t: { beta?: number; latentSize?: number; seed?: number; variant?: string; extra?: Record<string, string | number> }): string {
  const parts: string[] = [];
  if (t.variant !== undefined) parts.push(t.variant);
  if (t.beta !== undefined) parts.push(`beta=${t.beta}`);
  if (t.latentSize !== undefined) parts.push(`z=${t.latentSize}`);
  if (t.seed !== undefined) parts.push(`seed=${t.seed}`);
  for (const [k, v] of Object.entries(t.extra ?? {})) parts.push(`${k}=${v}`);
  return parts.join(' ');
}

/** The value of a dotted `model.x.y` path in a (possibly partial) model config. */
export function atPath(model: Record<string, unknown>, path: string): unknown {
  let v: unknown = model;
  for (const part of path.split('.').slice(1)) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

/** A variant's own parameter (VARIANT_AXIS) and its value in a model config, when the config sets it. */
export function variantParam(model: Record<string, unknown>): { name: string; value: number } | undefined {
  const variant = (model.variant ?? 'beta-vae') as ModelVariant;
  const name = VARIANT_AXIS[variant];
  const path = name === undefined ? undefined : PARAMS[name]?.variants?.[variant];
  if (name === undefined || path === undefined) return undefined;
  const value = atPath(model, path);
  return typeof value === 'number' ? { name, value } : undefined;
}

/**
 * The run name of a trial from its model config: variant, architecture, the variant's own parameter, latent size and
 * seed, e.g. `factor-vae residual gamma=10 z=10 seed=0`.
 */
export function trialRunNameFor(model: Record<string, unknown>, seed: number | undefined): string {
  const p = variantParam(model);
  const variant = typeof model.variant === 'string' ? model.variant : 'beta-vae';
  const arch = typeof model.architecture === 'string' ? model.architecture : 'standard';
  const parts = [variant, arch];
  if (p !== undefined) parts.push(`${p.name}=${p.value}`);
  if (typeof model.latentSize === 'number') parts.push(`z=${model.latentSize}`);
  if (seed !== undefined) parts.push(`seed=${seed}`);
  return parts.join(' ');
}

function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'dcign') return dir;
      } catch {
        // keep looking
      }
    }
    dir = path.dirname(dir);
  }
  return undefined;
}

/** dcign's version from package.json ('unknown' if it cannot be found). */
export function dcignVersion(): string {
  const root = packageRoot();
  if (root === undefined) return 'unknown';
  return (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
}

/** The git commit of the checkout (DCIGN_GIT_COMMIT wins, for deployments without .git); undefined if unknown. */
export function gitCommit(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.DCIGN_GIT_COMMIT) return env.DCIGN_GIT_COMMIT;
  const root = packageRoot();
  if (root === undefined) return undefined;
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

export interface TrialTagInput {
  runName: string;
  sweepName?: string;
  trialKey?: string;
  /** Temporal ids of the trial workflow (and the activity's, when logged from one). */
  workflowId?: string;
  workflowRunId?: string;
  /** e.g. 'tensorflow' (tfjs-node) or 'tensorflow-gpu'. */
  backend?: string;
  /** e.g. 'cpu', 'cuda:0 (NVIDIA H100)'. */
  device?: string;
  replicas?: number;
  extra?: Record<string, string>;
}

/** The tags every trial run carries. `mlflow.*` ones are those the MLflow UI shows in its own places. */
export function standardTags(t: TrialTagInput): Record<string, string> {
  const tags: Record<string, string> = {
    'mlflow.runName': t.runName,
    'mlflow.source.name': 'dcign',
    'mlflow.source.type': 'JOB',
    'dcign.version': dcignVersion(),
  };
  const commit = gitCommit();
  if (commit) tags['mlflow.source.git.commit'] = commit;
  if (t.sweepName) tags['dcign.sweep'] = t.sweepName;
  if (t.trialKey) tags['dcign.trial'] = t.trialKey;
  if (t.workflowId) tags['temporal.workflowId'] = t.workflowId;
  if (t.workflowRunId) tags['temporal.runId'] = t.workflowRunId;
  if (t.backend) tags['dcign.backend'] = t.backend;
  if (t.device) tags['dcign.device'] = t.device;
  if (t.replicas !== undefined) tags['dcign.replicas'] = String(t.replicas);
  return { ...tags, ...t.extra };
}

/** The bits of a TrainConfig a trial's name and params need (kept structural so tracking does not import train/). */
export interface TrialConfigLike {
  dataset: string;
  seed: number;
  model: { variant?: string; beta?: number; latentSize?: number } & Record<string, unknown>;
  [k: string]: unknown;
}

/**
 * The experiment for a sweep or training, created if missing, tagged as model training
 * (`mlflow.experimentKind = custom_model_development`) so that MLflow 3's UI opens it on its runs table rather than
 * on its GenAI trace views.
 */
export async function ensureExperiment(client: MlflowClient, name: string): Promise<string> {
  const kind = { 'mlflow.experimentKind': 'custom_model_development' };
  const id = await client.getOrCreateExperiment(name, kind);
  const e = await client.getExperimentByName(name);
  if (e && e.tags['mlflow.experimentKind'] === undefined) await client.setExperimentTag(id, 'mlflow.experimentKind', kind['mlflow.experimentKind']);
  return id;
}

export interface StartTrialRunInput extends Omit<TrialTagInput, 'runName'> {
  experimentId: string;
  parentRunId?: string;
  config: TrialConfigLike;
  runName?: string;
}

/** Creates a trial's run (a child of the sweep's run when `parentRunId` is given) with its params and tags. */
export async function startTrialRun(client: MlflowClient, i: StartTrialRunInput): Promise<Run> {
  const runName = i.runName ?? trialRunNameFor(i.config.model, i.config.seed);
  // Variant, architecture and parameter counts on every run, so the runs table can group and filter by them.
  const variant = typeof i.config.model.variant === 'string' ? i.config.model.variant : 'beta-vae';
  const architecture = typeof i.config.model.architecture === 'string' ? i.config.model.architecture : 'standard';
  const counts = modelParamCounts({ ...i.config.model, variant, architecture });
  const tags = standardTags({
    ...i,
    runName,
    extra: {
      'dcign.variant': variant,
      'dcign.architecture': architecture,
      'dcign.parameters': String(counts.total),
      ...stepTags({ stepMode: i.config.stepMode, model: { variant, architecture } }),
      ...i.extra,
    },
  });
  const run = await client.createRun({
    experimentId: i.experimentId,
    runName,
    ...(i.parentRunId ? { parentRunId: i.parentRunId } : {}),
    tags,
  });
  const params = flattenParams(i.config);
  // runDir and resumeFrom are machine-local paths, not hyperparameters.
  delete params.runDir;
  delete params.resumeFrom;
  if (i.replicas !== undefined) params.replicas = String(i.replicas);
  params['model.variant'] = variant;
  params['model.architecture'] = architecture;
  params.parameters = String(counts.total);
  params['parameters.encoderDecoder'] = String(counts.encoderDecoder);
  params['parameters.discriminator'] = String(counts.discriminator);
  await client.logParams(run.info.runId, params);
  return run;
}

/**
 * A sweep trial's run: the one already made for this trial under the same parent if there is one (an activity retried
 * after it created the run but before Temporal heard back), else a new one through startTrialRun.
 */
export async function findOrStartTrialRun(client: MlflowClient, i: StartTrialRunInput & { trialKey: string }): Promise<Run> {
  const quoted = i.trialKey.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const filter = `tags.\`dcign.trial\` = '${quoted}'${i.parentRunId ? ` and tags.mlflow.parentRunId = '${i.parentRunId}'` : ''}`;
  const [existing] = await client.searchRuns({ experimentIds: [i.experimentId], filter, maxResults: 1 });
  return existing ?? startTrialRun(client, i);
}

export interface TrialArtifacts {
  /** PNG bytes or file paths. */
  traversals?: Buffer | string;
  reconstructions?: Buffer | string;
  /** Loss curves by key (e.g. total, recon, kl): drawn to `plots/loss_curves.png`. */
  lossCurves?: Record<string, readonly { step: number; value: number }[]>;
  /** Final disentanglement metrics, also logged as metrics. */
  metrics?: Record<string, number>;
  /** Checkpoint directory, uploaded under `checkpoint/`. */
  checkpointDir?: string;
  step?: number;
}

/** Uploads what a finished trial leaves behind. */
export async function logTrialArtifacts(client: MlflowClient, runId: string, a: TrialArtifacts): Promise<void> {
  // Under the name given, whatever the file is called on disk (eval writes traversals.png; runs keep
  // images/latent_traversals.png), so every trial run has the same layout.
  const put = async (name: string, v: Buffer | string): Promise<void> => {
    await client.logArtifactBytes(runId, name, typeof v === 'string' ? await readFile(v) : v);
  };
  if (a.traversals !== undefined) await put('images/latent_traversals.png', a.traversals);
  if (a.reconstructions !== undefined) await put('images/reconstructions.png', a.reconstructions);
  if (a.lossCurves !== undefined) await client.logArtifactBytes(runId, 'plots/loss_curves.png', plotLossCurves(a.lossCurves));
  if (a.metrics !== undefined) {
    await client.logArtifactBytes(runId, 'metrics.json', JSON.stringify(a.metrics, null, 2) + '\n');
    const finite = Object.fromEntries(Object.entries(a.metrics).map(([k, v]) => [`final/${k}`, v]));
    await client.logMetrics(runId, finite, a.step ?? 0);
  }
  if (a.checkpointDir !== undefined) await client.logArtifacts(runId, a.checkpointDir, 'checkpoint');
}

export interface SweepParentInput {
  experimentId: string;
  sweepName: string;
  /** The spec as the user wrote it (uploaded under `spec/` with its file name)... */
  specPath?: string;
  /** ...or as the sweep runs it, resolved (uploaded as `spec/<sweep name>.json`). */
  spec?: unknown;
  workflowId?: string;
  workflowRunId?: string;
  params?: Record<string, string | number>;
}

/** Creates the sweep's parent run, uploading its spec as an artifact. */
export async function startSweepParentRun(client: MlflowClient, i: SweepParentInput): Promise<Run> {
  const tags = standardTags({
    runName: `sweep ${i.sweepName}`,
    sweepName: i.sweepName,
    ...(i.workflowId ? { workflowId: i.workflowId } : {}),
    ...(i.workflowRunId ? { workflowRunId: i.workflowRunId } : {}),
    extra: { 'dcign.role': 'sweep' },
  });
  const run = await client.createRun({ experimentId: i.experimentId, runName: `sweep ${i.sweepName}`, tags });
  if (i.params) await client.logParams(run.info.runId, i.params);
  if (i.specPath) await client.logArtifact(run.info.runId, i.specPath, 'spec');
  else if (i.spec !== undefined) await client.logArtifactBytes(run.info.runId, `spec/${i.sweepName}.json`, `${JSON.stringify(i.spec, null, 2)}\n`);
  return run;
}

