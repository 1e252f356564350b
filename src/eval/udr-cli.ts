// `dcign udr`'s handler: runs computeSweepUdr and shows where it is. On a terminal, one status line (model k of n,
// elapsed) rewritten in place; otherwise JSON lines on stderr. The result is one JSON line on stdout:
// {sweep, udr: {runId: score}, configurations, skipped}.
import { computeSweepUdr, type SweepUdrEvent, type SweepUdrOptions } from './sweep-udr.js';

/** Turns UDR events into a status line on a terminal, or JSON lines elsewhere. */
export function udrProgress(out: NodeJS.WriteStream = process.stderr): (e: SweepUdrEvent) => void {
  if (!out.isTTY) return (e) => void out.write(`${JSON.stringify({ progress: e.type, ...e })}\n`);
  const started = Date.now();
  let width = 0;
  const line = (text: string, keep = false): void => {
    out.write(`\r${text.padEnd(width)}${keep ? '\n' : ''}`);
    width = keep ? 0 : text.length;
  };
  return (e) => {
    const s = Math.round((Date.now() - started) / 1000);
    if (e.type === 'plan') line(`udr: ${e.trials} trials in ${e.configurations} configurations${e.skipped.length ? `, ${e.skipped.length} skipped (one seed)` : ''}`, true);
    else if (e.type === 'encoded') line(`udr: [${e.index + 1}/${e.total}] encoded ${e.runName} (step ${e.step})  ${s}s`);
    else line(`udr: ${e.label}: ${e.scores.map((v) => v.toFixed(3)).join(' ')}`, true);
  };
}

export async function runUdrCommand(opts: SweepUdrOptions): Promise<void> {
  const r = await computeSweepUdr({ ...opts, onProgress: udrProgress() });
  process.stdout.write(`${JSON.stringify({ sweep: opts.sweep, udr: Object.fromEntries(r.scores), configurations: r.configurations, skipped: r.skipped })}\n`);
}
