// The posterior audit's numerics on inputs checkable by hand.
import test from 'ava';

import { checkPriorSamples, logDetSpd, posteriorAudit } from '../../src/eval/posterior-audit.js';

const close = (a: number, b: number, eps = 1e-9): boolean => Math.abs(a - b) < eps;

test('one latent: KL per latent, aggregate mean and variance, KL to N(0, 1)', (t) => {
  // mu = +-1, sigma = 1: each KL(q||p) = 0.5 (1 + 1 - 1 - 0) = 0.5; q(z) has mean 0 and variance Var[mu] + E[sigma^2] = 2
  const a = posteriorAudit([[1], [-1]], [[0], [0]]);
  t.true(close(a.klPerLatent[0] as number, 0.5));
  t.deepEqual(a.mean, [0]);
  t.true(close(a.covariance[0]?.[0] as number, 2));
  t.true(close(a.klToPrior, 0.5 * (2 - 1 - Math.log(2))));
  t.true(close(a.gaussianTc, 0));
});

test('two correlated latents: covariance, Gaussian total correlation and KL to N(0, I)', (t) => {
  // Var = 1, Cov = (4 - 2) / 6 = 1/3; sigma ~ 0: TC = -0.5 log(1 - 1/9), KL = 0.5 (2 - 2 - log(8/9)) = the same
  const mu = [[1, 1], [-1, -1], [1, 1], [-1, -1], [1, -1], [-1, 1]];
  const a = posteriorAudit(mu, mu.map(() => [-60, -60]));
  t.true(close(a.covariance[0]?.[1] as number, 1 / 3));
  t.true(close(a.covariance[1]?.[0] as number, 1 / 3));
  t.true(close(a.gaussianTc, -0.5 * Math.log(8 / 9)));
  t.true(close(a.klToPrior, -0.5 * Math.log(8 / 9)));
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
