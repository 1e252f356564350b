// `dcign worker --gpus` must name GPUs this machine has: on a host without them, N "GPU" slots would train on the
// CPU under a GPU label, N at a time, with no word said.
import { visibleGpus } from '../src/backend.js';

/** Throws naming the fix when a requested GPU index is not among the visible ones (`GPU <i>: <name>` lines). */
export function checkGpuSlots(requested: readonly string[], visible: readonly string[] = visibleGpus()): void {
  const have = visible.map((g) => /^GPU (\d+):/.exec(g)?.[1]).filter((i): i is string => i !== undefined);
  const list = requested.join(',');
  if (have.length === 0) {
    const hidden = process.env.CUDA_VISIBLE_DEVICES !== undefined ? ` with CUDA_VISIBLE_DEVICES='${process.env.CUDA_VISIBLE_DEVICES}'` : '';
    throw new Error(
      `--gpus ${list} asks for ${requested.length} GPU slot(s), but no GPU is visible on this machine (nvidia-smi lists none${hidden}). ` +
        `For CPU training slots use --slots ${requested.length} instead.`,
    );
  }
  const missing = requested.filter((id) => !have.includes(id));
  if (missing.length > 0) {
    throw new Error(`--gpus ${list} names GPU ${missing.join(',')}, which this machine does not have (it has ${have.join(',')}: ${visible.join('; ')}).`);
  }
}
