// TensorFlow thread counts for replicas that share one machine's cores. Each TensorFlow process sizes its intra-op
// pool to every core, so R replicas on C cores would run R x C threads and preempt one another mid-step; the
// slowest then sets every step's pace and the others wait in the all-reduce (bench/allreduce.ts reports that wait).
// A replica gets its share, floor(C / R) but at least 1, unless the caller's environment already says.
import { availableParallelism } from 'node:os';

/** Environment for one of `sharing` replicas on this machine: TF_NUM_INTRAOP_THREADS / INTEROP, unless set in `env`. */
export function threadShareEnv(sharing: number, env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): NodeJS.ProcessEnv {
  if (!Number.isInteger(sharing) || sharing < 1) throw new Error(`replicas sharing the machine must be an integer >= 1, got ${sharing}`);
  const out: NodeJS.ProcessEnv = {};
  if (env.TF_NUM_INTRAOP_THREADS === undefined) out.TF_NUM_INTRAOP_THREADS = String(Math.max(1, Math.floor(cores / sharing)));
  // Eager ops run on the calling thread; a second inter-op pool only competes for the same cores.
  if (env.TF_NUM_INTEROP_THREADS === undefined) out.TF_NUM_INTEROP_THREADS = '1';
  return out;
}
