// The model family on the grid: which search parameters belong to which variant, checked before a sweep starts.
// A sweep crosses variants either through `search.variants` (each variant with its own grid, as disentanglement_lib's
// unsupervised_study_v1 chains one product per model) or a `variant` list on the grid. A parameter of some variants
// only (beta, gamma, capacity, lambda, lambdaOd, ..., or a `model.<section>.x` path) must belong to every variant it
// is crossed with; the message names the variant's own parameters and where the parameter does belong.
import { MODEL_VARIANTS, PARAMS, ownParams, paramVariants } from '../contract/types.js';
import type { ModelVariant, ParamValue } from '../contract/types.js';

type Bad = (field: string, value: unknown, allowed: string) => void;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** "gamma does not belong to beta-vae ..." with the fix. */
function notItsParameter(key: string, variants: readonly string[], owners: readonly ModelVariant[], where: string): string {
  const own = variants.map((v) => {
    const mine = ownParams(v as ModelVariant);
    return `${v}'s own parameters: ${mine.length > 0 ? mine.join(', ') : 'none beyond the shared ones'}`;
  });
  return `${key} does not belong to ${variants.join(', ')} (${own.join('; ')}); ${key} is a parameter of ${owners.join(', ')}: ${where}`;
}

/**
 * Validates `search.variants` (a mapping variant -> grid) and returns it; `checkKey` / `checkValue` are the spec's own
 * key and value checks (spec.ts), so a variant's grid accepts exactly what the common grid does.
 */
export function validateVariantGrids(
  raw: unknown,
  bad: Bad,
  checkKey: (field: string, key: string) => boolean,
  checkValue: (field: string, key: string, v: unknown) => void,
): Record<string, Record<string, ParamValue[]>> | undefined {
  if (raw === undefined) return undefined;
  if (!isRecord(raw) || Object.keys(raw).length === 0) {
    bad('search.variants', raw, `expected a mapping from variant (${MODEL_VARIANTS.join(', ')}) to its own grid, e.g. {factor-vae: {gamma: [10, 40]}}`);
    return undefined;
  }
  const out: Record<string, Record<string, ParamValue[]>> = {};
  for (const [variant, grid] of Object.entries(raw)) {
    const field = `search.variants.${variant}`;
    if (!(MODEL_VARIANTS as readonly string[]).includes(variant)) {
      bad(field, variant, `unknown variant; expected one of ${MODEL_VARIANTS.join(', ')}`);
      continue;
    }
    const g = grid ?? {};
    if (!isRecord(g)) {
      bad(field, g, `expected a mapping from ${variant}'s parameters to lists of values (or {} for none)`);
      continue;
    }
    const mine: Record<string, ParamValue[]> = {};
    for (const [key, values] of Object.entries(g)) {
      const f = `${field}.${key}`;
      if (key === 'variant') {
        bad(f, key, 'the variant is the key above; list other variants beside it under search.variants');
        continue;
      }
      if (!checkKey(f, key)) continue;
      const owners = paramVariants(key);
      if (owners !== undefined && !owners.includes(variant as ModelVariant)) {
        bad(f, key, notItsParameter(key, [variant], owners, `move it under search.variants.${owners[0]}`));
        continue;
      }
      if (!Array.isArray(values) || values.length === 0) {
        bad(f, values, 'expected a non-empty list of values');
        continue;
      }
      values.forEach((v, i) => checkValue(`${f}[${i}]`, key, v));
      if (new Set(values.map((v) => JSON.stringify(v))).size !== values.length) bad(f, values, 'expected distinct values');
      mine[key] = values as ParamValue[];
    }
    out[variant] = mine;
  }
  return out;
}

/**
 * Every variant-owned key of the common grid and the random search must belong to every variant the sweep trains.
 * `crossed`: those variants (search.variants' keys, the grid's `variant` list, or the fixed model.variant).
 */
export function checkSharedKeys(
  crossed: readonly string[],
  keys: readonly { field: string; key: string }[],
  bad: Bad,
  crossing: boolean,
): void {
  for (const { field, key } of keys) {
    const owners = paramVariants(key);
    if (owners === undefined) continue;
    const strangers = crossed.filter((v) => !owners.includes(v as ModelVariant));
    if (strangers.length === 0) continue;
    const fix = crossing
      ? `move it under search.variants.<variant> for ${owners.filter((o) => crossed.includes(o)).join(', ') || owners[0]}`
      : `use ${ownParams(strangers[0] as ModelVariant).map((p) => p.split(' ')[0]).join(' or ') || 'another variant'} instead, or set model.variant to ${owners.join(' / ')}`;
    bad(field, key, notItsParameter(key, strangers, owners, fix));
  }
}

/** Known short parameters, for messages. */
export function knownParams(): string {
  return Object.keys(PARAMS).join(', ');
}
