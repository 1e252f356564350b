// The `npz:` file a sweep names lives on the worker hosts, opened there when a trial starts; the machine that plans or
// starts the sweep (a laptop in front of a cluster) may well not hold it, so its absence here is a warning, not an
// error. The warning names the path and says where it must exist, because that is where a trial would fail (each
// worker checks the file before it starts a replica: workers/dataset-check.ts).
import { existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';

/** What `sweep plan` and `sweep start` say about a sweep's worker file; undefined for a generated dataset. */
export function workerFileNotice(workerFile: string | undefined, taskQueue: string): { level: 'warning' | 'note'; message: string } | undefined {
  if (workerFile === undefined) return undefined;
  const everywhere = `every worker host on task queue ${taskQueue} must hold it at this path, or its trials fail at once naming the file and the host`;
  if (!existsSync(workerFile)) {
    return { level: 'warning', message: `dataset file ${workerFile} does not exist on this machine (${hostname()}); ${everywhere}` };
  }
  if (!statSync(workerFile).isFile()) {
    return { level: 'warning', message: `dataset file ${workerFile} is not a file on this machine (${hostname()}); ${everywhere}` };
  }
  return { level: 'note', message: `dataset file ${workerFile} exists on this machine; ${everywhere}` };
}
