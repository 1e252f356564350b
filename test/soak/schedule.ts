// The soak's fault schedule, drawn from its seed alone: the same seed (and the same minutes and host mode) gives the
// same list of faults at the same offsets, so a run that found a violation can be replayed. Which process a fault hits
// is drawn as a fraction (`pick`) here and applied to whatever is running at that moment, which no seed can fix.
import { Rng } from '../../src/random.js';

export type FaultKind =
  | 'kill-replica'
  | 'kill-worker'
  | 'temporal-short'
  | 'temporal-long'
  | 'mlflow-restart'
  | 'cut-link'
  | 'stranger-bytes';

export const FAULT_KINDS: readonly FaultKind[] = ['kill-replica', 'kill-worker', 'temporal-short', 'temporal-long', 'mlflow-restart', 'cut-link', 'stranger-bytes'];

export const FAULT_WHAT: Record<FaultKind, string> = {
  'kill-replica': 'SIGKILL one replica process',
  'kill-worker': 'SIGKILL a worker process (its replicas follow), a replacement started after the pause',
  'temporal-short': 'Temporal killed, restarted within the heartbeat timeout',
  'temporal-long': 'Temporal killed, restarted after the heartbeat timeout',
  'mlflow-restart': 'MLflow stopped, started again on the same store',
  'cut-link': "a worker host's link cut, then restored",
  'stranger-bytes': "random bytes sent to a replica's ring ports",
};

export interface FaultEvent {
  /** Seconds after the stack is up. */
  readonly at: number;
  readonly kind: FaultKind;
  /** How long the fault lasts (down time, cut time), seconds; 0 for instant faults. */
  readonly seconds: number;
  /** In [0, 1): which target among those running at that moment (replica, worker host). */
  readonly pick: number;
  /** Bytes to send (stranger-bytes). */
  readonly bytes: number;
}

export interface ScheduleOptions {
  readonly seed: number;
  readonly minutes: number;
  /** The trials' heartbeat timeout: short and long Temporal outages are drawn on either side of it. */
  readonly heartbeatSeconds: number;
  /** Hosts are network namespaces, so a link can be cut. */
  readonly netns: boolean;
  /** No fault before this many seconds (the first sweep's replicas start training). */
  readonly warmupSeconds?: number;
  /** No fault starts in the last this many seconds (the sweep under way recovers before the drain). */
  readonly quietSeconds?: number;
}

function between(rng: Rng, lo: number, hi: number): number {
  return lo + Math.round(rng.float() * (hi - lo));
}

/**
 * Faults in rounds: each round is every kind once, in an order drawn from the seed, so a run long enough for one
 * round injects every kind. After each fault a gap of 20-45 s lets the trials recover before the next.
 */
export function drawSchedule(o: ScheduleOptions): FaultEvent[] {
  const rng = new Rng(o.seed);
  const kinds = FAULT_KINDS.filter((k) => o.netns || k !== 'cut-link');
  const end = o.minutes * 60 - (o.quietSeconds ?? 45);
  const out: FaultEvent[] = [];
  let t = o.warmupSeconds ?? 45;
  for (;;) {
    const round = [...kinds];
    for (let i = round.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [round[i], round[j]] = [round[j] as FaultKind, round[i] as FaultKind];
    }
    for (const kind of round) {
      const hb = o.heartbeatSeconds;
      const seconds =
        kind === 'kill-worker' ? between(rng, 5, 20)
        : kind === 'temporal-short' ? between(rng, 5, Math.max(6, Math.floor(hb / 2)))
        : kind === 'temporal-long' ? between(rng, hb + 10, hb + 25)
        : kind === 'mlflow-restart' ? between(rng, 5, 30)
        : kind === 'cut-link' ? between(rng, 15, 45)
        : 0;
      const pick = rng.float();
      const bytes = kind === 'stranger-bytes' ? between(rng, 16, 4096) : 0;
      if (t > end) return out;
      out.push({ at: t, kind, seconds, pick, bytes });
      t += seconds + between(rng, 20, 45);
    }
  }
}

export function formatSchedule(events: readonly FaultEvent[]): string {
  const rows = events.map((e, i) => {
    const extra = e.kind === 'stranger-bytes' ? ` ${e.bytes} bytes` : e.seconds > 0 ? ` for ${e.seconds} s` : '';
    return `  #${String(i + 1).padStart(2)}  t+${String(e.at).padStart(4)} s  ${e.kind.padEnd(15)} pick ${e.pick.toFixed(3)}${extra}`;
  });
  return rows.join('\n');
}
