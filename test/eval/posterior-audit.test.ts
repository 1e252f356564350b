// The posterior audit's numerics on inputs checkable by hand.
import test from 'ava';

import { openDataset, renderAt } from '../../src/data/index.js';
import { MAX_REAL_BROKEN, checkPriorSamples, checkPriorSamplesFor, logDetSpd, posteriorAudit } from '../../src/eval/posterior-audit.js';

const close = (a: number, b: number, eps = 1e-9): boolean => Math.abs(a - b) < eps;

test('one latent: KL per latent, aggregate mean and variance, KL to N(0, 1)', (t) => {
  // mu = +-1, sigma = 1: each KL(q||p) = 0.5 (1 + 1 - 1 - 0) = 0.5; q(z) has mean 0 and variance Var[mu] + E[sigma^2] = 2
  const a = posteriorAudit([[1], [-1]], [[0], [0]]);
  t.true(close(a.klPerLatent[0] as number, 0.5));
  t.deepEqual(a.mean, [0]);
  t.true(close(a.covariance[0]?.[0] as number, 2));
  t.true(close(a.gaussianKlLowerBound, 0.5 * (2 - 1 - Math.log(2))));
  t.true(close(a.gaussianTc, 0));
});

test('two correlated latents: covariance, Gaussian total correlation and KL to N(0, I)', (t) => {
  // Var = 1, Cov = (4 - 2) / 6 = 1/3; sigma ~ 0: TC = -0.5 log(1 - 1/9), KL = 0.5 (2 - 2 - log(8/9)) = the same
  const mu = [[1, 1], [-1, -1], [1, 1], [-1, -1], [1, -1], [-1, 1]];
  const a = posteriorAudit(mu, mu.map(() => [-60, -60]));
  t.true(close(a.covariance[0]?.[1] as number, 1 / 3));
  t.true(close(a.covariance[1]?.[0] as number, 1 / 3));
  t.true(close(a.gaussianTc, -0.5 * Math.log(8 / 9)));
  t.true(close(a.gaussianKlLowerBound, -0.5 * Math.log(8 / 9)));
});

test('the moment-matched Gaussian KL is a lower bound of KL(q(z) || N(0, 1)): a two-cluster q(z) with mean 0, variance 1 scores 0', (t) => {
  // q(z) = 1/2 N(-m, s^2) + 1/2 N(m, s^2) with m^2 + s^2 = 1: its mean and variance are those of N(0, 1), so the
  // Gaussian bound is 0, while the true KL (numerical integration below) is large: q is two narrow bumps.
  const s2 = 0.01;
  const m = Math.sqrt(1 - s2);
  const mu = Array.from({ length: 1000 }, (_, i) => [i % 2 === 0 ? m : -m]);
  const a = posteriorAudit(mu, mu.map(() => [Math.log(s2)]));
  t.true(close(a.gaussianKlLowerBound, 0, 1e-9), String(a.gaussianKlLowerBound));
  const gauss = (z: number, c: number, v: number): number => Math.exp(-((z - c) ** 2) / (2 * v)) / Math.sqrt(2 * Math.PI * v);
  let kl = 0;
  const dz = 1e-4;
  for (let z = -6; z < 6; z += dz) {
    const q = 0.5 * gauss(z, m, s2) + 0.5 * gauss(z, -m, s2);
    if (q > 1e-300) kl += q * Math.log(q / gauss(z, 0, 1)) * dz;
  }
  t.true(kl > 1, `true KL ${kl}`);
  t.true(a.gaussianKlLowerBound <= kl);
  t.false('klToPrior' in a, 'the field says what it is: a lower bound, not the KL');
});

test('log det by Cholesky; a singular covariance is named', (t) => {
  t.true(close(logDetSpd([[4, 2], [2, 3]]), Math.log(8)));
  t.throws(() => logDetSpd([[1, 1], [1, 1]]), { message: /not positive definite/ });
  t.throws(() => posteriorAudit([[1]], [[0]]), { message: /at least 2 rows/ });
});

test('prior samples: flat images are blank, crisp shapes pass, half-grey smears are broken', (t) => {
  const px = 16;
  const blank = new Array(px).fill(0.3);
  const crisp = [...new Array(12).fill(0), ...new Array(4).fill(1)];
  const smear = [...new Array(10).fill(0), 0.5, 0.5, 0.5, 0.4, 0.6, 1];
  const c = checkPriorSamples([...blank, ...crisp, ...smear, ...crisp], px);
  t.deepEqual(c, { samples: 4, blank: 0.25, broken: 0.25 });
  t.throws(() => checkPriorSamples([1, 2, 3], 2), { message: /not whole images/ });
});

/** `n` images of a generated dataset, spread over it. */
function realImages(name: string, n: number): { images: Float32Array; pixels: number } {
  const ds = openDataset(name, { imageSize: 32 });
  const pixels = ds.imageSize * ds.imageSize * ds.channels;
  const images = new Float32Array(n * pixels);
  for (let i = 0; i < n; i++) renderAt(ds, Math.floor(((i + 0.5) * ds.size) / n), images, i * pixels);
  return { images, pixels };
}

test("'prior broken' is reported where the dataset's own images pass the smear test (sprites) and left out, with the reason, on grey faces", (t) => {
  const sprites = realImages('dsprites-small', 60);
  const faces = realImages('faces', 60);
  // the same decoded "prior samples" for both: sprite-like images, so only the dataset decides
  const onSprites = checkPriorSamplesFor(sprites.images, sprites.images, sprites.pixels);
  t.true((onSprites.realBroken ?? 1) <= MAX_REAL_BROKEN, `sprites: ${onSprites.realBroken}`);
  t.is(typeof onSprites.broken, 'number');
  t.is(onSprites.brokenNotApplicable, undefined);
  const onFaces = checkPriorSamplesFor(faces.images, faces.images, faces.pixels);
  t.true((onFaces.realBroken ?? 0) > 0.5, `the old check calls most real faces broken: ${onFaces.realBroken}`);
  t.is(onFaces.broken, undefined, 'no number that carries no information');
  t.regex(onFaces.brokenNotApplicable ?? '', /built for binary sprites.*dataset's own images broken/);
  t.is(onFaces.blank, checkPriorSamples(faces.images, faces.pixels).blank, 'blank still counts');
});
