// The last line of `npm run bench:train` (bench/train.ts) and the rule it keeps: every ratio in it is of a measured
// pair. A run that would print a null ratio (a twin left out by --only, or one that failed in every round) names the
// missing configurations instead and exits non-zero, so a script reading the line never takes "no reference" for a
// figure. Pure, so the rule has a unit test (test/bench/train-summary.test.ts) without running a benchmark.

/** The configurations the JSON line needs: ours and its twins, and for each family row, ours:<row> and its twins. */
export function requiredConfigs(family: readonly string[], reference: boolean): string[] {
  if (!reference) return ['ours', ...family.map((f) => `ours:${f}`)];
  return ['ours', 'torch', 'keras', ...family.flatMap((f) => [`ours:${f}`, `torch:${f}`, `keras:${f}`])];
}

/** Which of `required` a run of `chosen` configurations (after --only) would not run at all. */
export function leftOut(required: readonly string[], chosen: readonly string[]): string[] {
  const set = new Set(chosen);
  return required.filter((c) => !set.has(c));
}

export interface SummaryInput {
  /** Median img/s per configuration that ran; undefined where it failed in every round. */
  readonly medians: Readonly<Record<string, number | undefined>>;
  /** The family rows of this run (variant/architecture). */
  readonly family: readonly string[];
  /** false under --no-reference: ours only, no ratio in the line. */
  readonly reference: boolean;
  /** Which step each ours configuration ran (graph, graph-split, eager). */
  readonly stepOf?: ReadonlyMap<string, string>;
}

export interface FamilyRow {
  readonly ours: number;
  readonly step: string | null;
  readonly torch?: number;
  readonly keras?: number;
  /** ours / torch */
  readonly ratio?: number;
  readonly ratio_vs_keras?: number;
  /** Only where ours-eager:<row> ran. */
  readonly eager?: number;
  readonly ratio_vs_eager?: number;
}

export type Summary =
  | {
      readonly ok: true;
      readonly ours: number;
      readonly reference?: number;
      readonly ratio?: number;
      readonly keras?: number;
      readonly ratio_vs_keras?: number;
      readonly family: Record<string, FamilyRow>;
    }
  | { readonly ok: false; readonly missing: string[] };

const r3 = (x: number, y: number): number => +(x / y).toFixed(3);

/**
 * The figures of the JSON line, or the configurations whose figure is missing. Under `reference` every ratio is
 * present (ours / torch, ours / keras, for the line and for each family row); without it, none is.
 */
export function summarise(inp: SummaryInput): Summary {
  const m = inp.medians;
  const missing = requiredConfigs(inp.family, inp.reference).filter((c) => m[c] === undefined);
  if (missing.length > 0) return { ok: false, missing };
  const at = (c: string): number => m[c] as number;
  const family = Object.fromEntries(
    inp.family.map((f): [string, FamilyRow] => {
      const o = at(`ours:${f}`);
      const e = m[`ours-eager:${f}`];
      const eager = e === undefined ? {} : { eager: e, ratio_vs_eager: r3(o, e) };
      const step = inp.stepOf?.get(`ours:${f}`) ?? null;
      if (!inp.reference) return [f, { ours: o, step, ...eager }];
      const t = at(`torch:${f}`);
      const k = at(`keras:${f}`);
      return [f, { ours: o, step, torch: t, keras: k, ratio: r3(o, t), ratio_vs_keras: r3(o, k), ...eager }];
    }),
  );
  const ours = at('ours');
  if (!inp.reference) return { ok: true, ours, family };
  return { ok: true, ours, reference: at('torch'), ratio: r3(ours, at('torch')), keras: at('keras'), ratio_vs_keras: r3(ours, at('keras')), family };
}

/** What a run missing `missing` says before it exits non-zero. */
export function missingMessage(missing: readonly string[]): string {
  const twins = missing.filter((c) => c.startsWith('torch') || c.startsWith('keras'));
  const hint = twins.length > 0 ? ' (a twin failing in every round: see its error above; a twin not installed: bash scripts/setup-bench-twins.sh)' : '';
  return `bench:train: no figure for ${missing.join(', ')}${hint}; no JSON line, since its ratios would be null`;
}
