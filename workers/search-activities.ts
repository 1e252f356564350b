// Activities of search.optimize: Optuna's ask/tell through a long-lived driver (src/search/driver-client.ts) against
// the study's RDB storage, and the search's marks on the trials' MLflow runs. Built by their own factory, registered
// on the control queue beside the sweep's bookkeeping activities.
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import { ApplicationFailure } from '@temporalio/activity';

import type { MlflowClient } from '../src/tracking/index.js';
import { DriverRefusal, OptunaDriver } from '../src/search/driver-client.js';
import type { DriverSpace } from '../src/search/plans.js';
import type { ParamValue, Sampler } from '../src/contract/types.js';

export interface SearchActivityDeps {
  /** Where the embedded stack keeps studies: `<runRoot>/optuna/<sweep>.db` (SQLite). */
  readonly runRoot: string;
  /** An RDB URL for every study (e.g. postgresql://...), instead of the SQLite files; env DCIGN_OPTUNA_STORAGE. */
  readonly storage?: string;
  readonly mlflow?: MlflowClient;
  readonly driver?: OptunaDriver;
}

export interface TellItem {
  readonly number: number;
  readonly state: 'complete' | 'pruned' | 'failed';
  readonly values?: readonly number[];
  readonly attrs?: Readonly<Record<string, unknown>>;
}

export interface SearchStepInput {
  readonly sweep: string;
  readonly study: string;
  readonly directions: readonly ('maximize' | 'minimize')[];
  readonly sampler: Sampler;
  readonly seed: number;
  readonly space: DriverSpace;
  readonly tell: readonly TellItem[];
  readonly ask: number;
  /** Names this ask: a retried request with the same id gets the same configurations. */
  readonly request: string;
  readonly asks: number;
  readonly population?: number;
  readonly startup?: number;
}

export interface SearchStepResult {
  readonly asked: { number: number; params: Record<string, ParamValue> }[];
  readonly finished: number;
  /** The storage URL (without a password), for `sweep dashboard`. */
  readonly storage: string;
}

export interface SearchRunMarks {
  readonly runs: readonly { runId: string; tags: Readonly<Record<string, string>> }[];
}

export interface SearchActivityImpl {
  searchStep(input: SearchStepInput): Promise<SearchStepResult>;
  markSearchRuns(input: SearchRunMarks): Promise<void>;
  /** Ends the driver process (the worker calls it at shutdown). */
  close(): void;
}

export function createSearchActivities(deps: SearchActivityDeps): SearchActivityImpl {
  const driver = deps.driver ?? new OptunaDriver();
  const storageFor = (sweep: string): string => {
    const url = deps.storage ?? process.env.DCIGN_OPTUNA_STORAGE;
    if (url) return url;
    const dir = path.resolve(deps.runRoot, 'optuna');
    mkdirSync(dir, { recursive: true });
    return `sqlite:///${path.join(dir, `${sweep}.db`)}`;
  };
  return {
    /** Tells Optuna the configurations that ended, then asks for `ask` more. */
    async searchStep(input: SearchStepInput): Promise<SearchStepResult> {
      const storage = storageFor(input.sweep);
      const { sweep: _sweep, ...req } = input;
      try {
        const out = await driver.request({ op: 'step', storage, ...req });
        return { asked: out.asked as SearchStepResult['asked'], finished: Number(out.finished), storage: storage.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@') };
      } catch (err) {
        if (err instanceof DriverRefusal) throw ApplicationFailure.nonRetryable(err.message, 'SearchRefused');
        throw err;
      }
    },
    /**
     * Each trial run gets its configuration's objectives (aggregate, mean, standard error) and `pareto` as tags: tags
     * are idempotent, so a retried activity never doubles a metric point.
     */
    async markSearchRuns(input: SearchRunMarks): Promise<void> {
      const mlflow = deps.mlflow;
      if (!mlflow) return;
      for (const r of input.runs) await mlflow.setTags(r.runId, { ...r.tags });
    },
    close: (): void => driver.close(),
  };
}

export type SearchActivities = Omit<SearchActivityImpl, 'close'>;
