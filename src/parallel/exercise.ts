// A synthetic all-reduce workload with known answers: every rank fills buffers with values whose mean over the ranks
// is known in closed form, reduces them, and checks the result. A smoke test of a cluster's links and the workload
// of the all-reduce benchmark (bench/allreduce.ts); it needs no TensorFlow.
import { crc32 } from 'node:zlib';

/** Every size is reduced `iterations` times after `warmup` untimed rounds. */
export interface ExerciseConfig {
  /** Buffer lengths in float32 elements. */
  readonly sizes: readonly number[];
  readonly iterations: number;
  readonly warmup?: number;
  /** Milliseconds to wait between iterations (lets a test kill a peer mid-run). */
  readonly pauseMs?: number;
  /** Synchronise the ranks with a one-float all-reduce before each timed iteration (default true). */
  readonly barrier?: boolean;
}

export interface ExerciseResult {
  readonly rank: number;
  readonly worldSize: number;
  readonly results: readonly { elements: number; iterations: number; seconds: number; maxErr: number; crc: number }[];
}

/** What the workload needs of a reducer. */
export interface ExerciseReducer {
  readonly rank: number;
  readonly worldSize: number;
  allReduceMean(buf: Float32Array, step: number): Promise<void>;
}

/** Rank r's element i at iteration k; its mean over ranks is ((R + 1) / 2 * ((i % 61) - 30) + k) / 64. */
function exerciseValue(rank: number, i: number, k: number): number {
  return ((rank + 1) * ((i % 61) - 30) + k) / 64;
}

export async function runExercise(
  reducer: ExerciseReducer,
  ex: ExerciseConfig,
  signal: AbortSignal,
  onIteration: (step: number, scalars: Record<string, number>) => void,
): Promise<ExerciseResult> {
  const R = reducer.worldSize;
  const results: { elements: number; iterations: number; seconds: number; maxErr: number; crc: number }[] = [];
  let step = 0;
  for (const n of ex.sizes) {
    const buf = new Float32Array(n);
    let seconds = 0;
    let maxErr = 0;
    let crc = 0;
    const warm = ex.warmup ?? 0;
    for (let k = 0; k < warm + ex.iterations; k++) {
      if (signal.aborted) throw new Error(String(signal.reason));
      for (let i = 0; i < n; i++) buf[i] = exerciseValue(reducer.rank, i, k);
      if (ex.barrier !== false) await reducer.allReduceMean(new Float32Array(1), step++);
      const t0 = process.hrtime.bigint();
      await reducer.allReduceMean(buf, step++);
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (k >= warm) seconds += dt;
      if (k === warm + ex.iterations - 1 || k < 2) {
        for (let i = 0; i < n; i++) {
          const want = (((R + 1) / 2) * ((i % 61) - 30) + k) / 64;
          maxErr = Math.max(maxErr, Math.abs((buf[i] as number) - want));
        }
      }
      if (k === warm + ex.iterations - 1) crc = crc32(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
      onIteration(step, { elements: n, seconds: dt });
      if (ex.pauseMs) await new Promise((r) => setTimeout(r, ex.pauseMs));
    }
    results.push({ elements: n, iterations: ex.iterations, seconds, maxErr, crc: crc >>> 0 });
  }
  return { rank: reducer.rank, worldSize: R, results };
}
