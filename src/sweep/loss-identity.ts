// The research plan's check that a trial's logged loss is its variant's equation of its own logged terms, at the same
// step: recon + beta KL for beta-VAE (Higgins et al. 2017, Eq. 4) and DCIGN (Kulkarni et al. 2015, the variational
// bound, beta 1 by default); recon + KL + (beta - 1) TC for beta-TCVAE (Chen et al. 2018, Eq. 4 with alpha = gamma =
// 1); recon + KL + gamma TC for FactorVAE (Kim & Mnih 2018, Eq. 2); recon + (1 - alpha) KL + (alpha + lambda - 1) MMD
// for InfoVAE (Zhao et al. 2017, Eq. 6); recon + KL + the DIP penalty for DIP-VAE (Kumar et al. 2018, Eq. 7). The
// weights come from the trial's configuration, not from the trainer, so a weight the step applied wrongly (a default
// beta that is not the one configured, a term left out) shows here. Pure: `dcign report` and tests use it.
import type { ModelConfig } from '../model/config.js';
import { DEFAULT_FACTOR_VAE, DEFAULT_MMD } from '../model/config.js';

/** The configuration a loss's weights come from. */
export type LossWeights = Pick<ModelConfig, 'variant' | 'beta'> & Partial<Pick<ModelConfig, 'mmd' | 'factorVae'>>;

/**
 * Relative tolerance: every term is a float32 scalar (relative rounding 6e-8 each) summed in float32, so a faithful
 * loss agrees far inside 1e-5 of the terms' magnitude, while a wrong weight moves it by (weight error) x (its term).
 */
export const LOSS_IDENTITY_TOLERANCE = 1e-5;

export type LossIdentity =
  | { readonly applies: true; readonly equation: string; readonly logged: number; readonly expected: number; readonly residual: number; readonly ok: boolean }
  | { readonly applies: false; readonly why: string };

type Metrics = Readonly<Record<string, number | undefined>>;

/** The regulariser the variant's equation gives from the logged terms, with the equation in words. */
function regulariserOf(model: LossWeights, m: Metrics): { equation: string; terms: number[] } | string {
  const kl = m.kl as number;
  const need = (key: string): number | string => (Number.isFinite(m[key]) ? (m[key] as number) : `no logged ${key}`);
  switch (model.variant) {
    case 'beta-vae':
    case 'dcign':
      return { equation: `recon + ${model.beta} KL`, terms: [model.beta * kl] };
    case 'beta-tcvae': {
      const tc = need('tc');
      return typeof tc === 'string' ? tc : { equation: `recon + KL + ${model.beta - 1} TC`, terms: [kl, (model.beta - 1) * tc] };
    }
    case 'factor-vae': {
      const tc = need('tc');
      const gamma = model.factorVae?.gamma ?? DEFAULT_FACTOR_VAE.gamma;
      return typeof tc === 'string' ? tc : { equation: `recon + KL + ${gamma} TC`, terms: [kl, gamma * tc] };
    }
    case 'info-vae': {
      const d = need('mmd');
      const { alpha, lambda } = model.mmd ?? DEFAULT_MMD;
      return typeof d === 'string' ? d : { equation: `recon + ${1 - alpha} KL + ${alpha + lambda - 1} MMD`, terms: [(1 - alpha) * kl, (alpha + lambda - 1) * d] };
    }
    case 'dip-vae-i':
    case 'dip-vae-ii': {
      const dip = need('dip');
      return typeof dip === 'string' ? dip : { equation: 'recon + KL + DIP penalty', terms: [kl, dip] };
    }
    case 'annealed-vae':
      return 'the annealed capacity C at the logged step is not logged, so gamma |KL - C| cannot be recomputed';
  }
}

/** Whether a trial's logged loss (its final log step: loss, recon, kl and the variant's terms) obeys its equation. */
export function lossIdentity(model: LossWeights, m: Metrics): LossIdentity {
  for (const key of ['loss', 'recon', 'kl']) {
    if (!Number.isFinite(m[key])) return { applies: false, why: `no logged ${key}` };
  }
  const reg = regulariserOf(model, m);
  if (typeof reg === 'string') return { applies: false, why: reg };
  const recon = m.recon as number;
  const logged = m.loss as number;
  const expected = recon + reg.terms.reduce((a, b) => a + b, 0);
  const scale = Math.abs(recon) + reg.terms.reduce((a, b) => a + Math.abs(b), 0) + 1;
  const residual = logged - expected;
  return { applies: true, equation: reg.equation, logged, expected, residual, ok: Math.abs(residual) <= LOSS_IDENTITY_TOLERANCE * scale };
}

/**
 * The plan's other check, x_hat = f_dec(f_enc(x)) off the training set: the held-out reconstruction error (the
 * evaluation's, on images drawn apart from training) against the training one. Above this ratio the trial is flagged:
 * on these generated datasets train and held-out images come from one distribution, so a gap this large means the
 * decoder does not reconstruct what the encoder was not trained on (or the logged training recon is not the loss's).
 */
export const HELDOUT_RECON_RATIO = 1.25;

export function heldOutGap(m: Metrics): { readonly ratio: number; readonly ok: boolean } | undefined {
  const train = m.recon;
  const held = m.heldout_recon;
  if (!Number.isFinite(train) || !Number.isFinite(held) || (train as number) <= 0) return undefined;
  const ratio = (held as number) / (train as number);
  return { ratio, ok: ratio <= HELDOUT_RECON_RATIO };
}
