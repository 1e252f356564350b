// `dcign eval`'s handler: runs evaluateCheckpoint and shows where it is. On a terminal, one status line (metric k of
// n, images encoded, elapsed) rewritten in place, since the sampling metrics run for minutes; otherwise JSON lines on
// stderr. The result is one JSON line on stdout: {metrics, out}, and {skipped: {metric: reason}} when metrics were
// skipped (an unlabelled dataset).
import path from 'node:path';

import { evaluateCheckpoint, type EvaluateCheckpointOptions, type EvaluationEvent } from './evaluate-checkpoint.js';

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Turns evaluation events into a status line on a terminal, or JSON lines elsewhere. */
export function evalProgress(out: NodeJS.WriteStream = process.stderr): (e: EvaluationEvent) => void {
  if (!out.isTTY) return (e) => void out.write(`${JSON.stringify({ progress: e.type, ...e })}\n`);
  const started = Date.now();
  let metric = '';
  let position = '';
  let encoded = 0;
  let width = 0;
  const draw = (): void => {
    const line = `evaluating ${position} ${metric}  ${encoded.toLocaleString('en-US')} images encoded  ${clock(Date.now() - started)}`;
    out.write(`\r${line.padEnd(width)}`);
    width = line.length;
  };
  return (e) => {
    if (e.type === 'metric-start') {
      metric = e.metric;
      position = `[${e.index + 1}/${e.total}]`;
      draw();
    } else if (e.type === 'images') {
      encoded = e.encoded;
      draw();
    } else if (e.type === 'metric-done' && e.index + 1 === e.total) {
      out.write(`\r${' '.repeat(width)}\r`);
      width = 0;
    }
  };
}

export async function runEvalCommand(checkpoint: string, opts: EvaluateCheckpointOptions): Promise<void> {
  const result = await evaluateCheckpoint(checkpoint, opts, evalProgress());
  const skipped = Object.keys(result.skipped).length > 0 ? { skipped: result.skipped } : {};
  process.stdout.write(`${JSON.stringify({ metrics: result.metrics, ...skipped, out: path.resolve(opts.out) })}\n`);
}
