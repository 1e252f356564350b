// A trial's `npz:` file lives on the worker hosts (the planning machine checks only its form): each replica's worker
// checks that it can read the file before starting a replica, so a host without it fails the trial at once, naming
// the file and the host, instead of restarting the group until its restarts run out.
import { accessSync, constants, statSync } from 'node:fs';
import { hostname } from 'node:os';

import { datasetFile } from '../src/data/index.js';

/** Why this host cannot open the dataset's file, or undefined when it can (or the dataset is generated). */
export function unreadableDatasetFile(dataset: string, advertiseHost: string): string | undefined {
  const file = datasetFile(dataset);
  if (file === undefined) return undefined;
  const host = `worker host ${hostname()} (${advertiseHost})`;
  try {
    accessSync(file, constants.R_OK);
    if (!statSync(file).isFile()) return `dataset file ${file} (from '${dataset}') on ${host} is not a file`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by the worker' : (err as Error).message;
    return `dataset file ${file} (from '${dataset}') ${why} on ${host}; copy it to the same path on every worker host of this task queue`;
  }
  return undefined;
}
