// A worker's local copies of durable checkpoints: before a replica resumes (or an evaluation starts) on this host, the
// checkpoint its trial names is fetched from the trial's MLflow run into <runDir>/checkpoints/step-N, verified file
// by file. The trial's run folder on this host is only a cache: a host that never saw the trial fetches everything it
// needs. Replicas of one group on the same host share one download.
import path from 'node:path';

import { parseCheckpointUri, type CheckpointRef } from '../src/contract/index.js';
import { CheckpointStore, type MlflowClient } from '../src/tracking/index.js';

/** The checkpoint is stored in MLflow but this worker has no tracking server to fetch it from. */
export class NoTrackingServerError extends Error {
  constructor(uri: string) {
    super(
      `checkpoint ${uri} is stored in MLflow, but this worker runs without MLflow: start it with MLFLOW_TRACKING_URI ` +
        'pointing at the sweep\'s tracking server (and without --no-mlflow)',
    );
    this.name = 'NoTrackingServerError';
  }
}

export class CheckpointCache {
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(private readonly mlflow: MlflowClient | undefined) {}

  /**
   * A local checkpoint directory for `ref`: a local path as it is (only the host that wrote it has it), a durable one
   * fetched into `<runDir>/checkpoints/<name>` unless a verified copy is there already.
   */
  localDir(ref: CheckpointRef, runDir: string): Promise<string> {
    const loc = parseCheckpointUri(ref.uri);
    if (loc.kind === 'local') return Promise.resolve(loc.path);
    if (!this.mlflow) return Promise.reject(new NoTrackingServerError(ref.uri));
    const dest = path.join(runDir, 'checkpoints', path.posix.basename(loc.artifactPath));
    let p = this.inFlight.get(dest);
    if (!p) {
      const store = new CheckpointStore(this.mlflow, loc.runId);
      p = store.download(loc.artifactPath, dest).then(({ step }) => {
        if (step !== ref.step) throw new Error(`checkpoint ${ref.uri} holds step ${step}, the trial expected step ${ref.step}`);
        return dest;
      });
      this.inFlight.set(dest, p);
      const forget = (): void => void this.inFlight.delete(dest);
      p.then(forget, forget);
    }
    return p;
  }
}
