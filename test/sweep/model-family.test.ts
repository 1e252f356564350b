// The model family on the grid: sweeps/model-family.yaml (every variant with its own parameter x two architectures)
// validates, expands, trains a few steps per trial through runTraining, and its summary keeps variants and
// architectures apart; parameters that do not belong to a variant are refused with the fix.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_VARIANTS, type SweepProgress, type TrialStatus } from '../../src/contract/types.js';
import { expandTrials, parsePoint, trainConfigFor } from '../../src/sweep/expand.js';
import { SweepSpecError, loadSweepSpec, validateSweepSpec } from '../../src/sweep/spec.js';
import { resolveTrainConfig, type TrainConfigInput } from '../../src/train/config.js';
import { runTraining } from '../../src/train/run.js';
import { summaryCsv, summaryMarkdown, summaryPlots, sweepSummaryRows } from '../../src/tracking/sweep-summary.js';
import { trialRunNameFor } from '../../src/tracking/trial-logging.js';
import { createBars } from '../helpers/bars.js';

const spec = loadSweepSpec('sweeps/model-family.yaml');
const trials = expandTrials(spec);

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dcign-model-family-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

test('sweeps/model-family.yaml crosses every variant with its own parameter and two architectures', (t) => {
  t.is(trials.length, MODEL_VARIANTS.length * 2);
  t.deepEqual([...new Set(trials.map((x) => String(x.params.variant)))].sort(), [...MODEL_VARIANTS].sort());
  t.deepEqual([...new Set(trials.map((x) => x.params.architecture))].sort(), ['residual', 'standard']);
  t.is(new Set(trials.map((x) => x.key)).size, trials.length);
  t.true(trials.some((x) => x.key === 'variant=factor-vae,gamma=10,arch=residual,latent=6,seed=0'));
  // each variant's parameter lands where its variant reads it
  const cfg = (variant: string, arch = 'standard'): ReturnType<typeof resolveTrainConfig> => {
    const trial = trials.find((x) => x.params.variant === variant && x.params.architecture === arch)!;
    return resolveTrainConfig(trainConfigFor(spec, trial, join(root, 'x')) as TrainConfigInput);
  };
  t.is(cfg('factor-vae').model.factorVae?.gamma, 10);
  t.is(cfg('annealed-vae').model.capacity?.cMax, 25);
  t.is(cfg('annealed-vae').model.capacity?.gamma, 1000);
  t.is(cfg('dip-vae-i').model.dip?.lambdaOd, 10);
  t.is(cfg('dip-vae-i').model.dip?.lambdaDFactor, 10);
  t.is(cfg('dip-vae-ii').model.dip?.lambdaDFactor, 1);
  t.is(cfg('info-vae').model.mmd?.lambda, 1000);
  t.is(cfg('beta-tcvae', 'residual').model.beta, 6);
  t.is(cfg('beta-tcvae', 'residual').model.architecture, 'residual');
  // a point given on the command line (dcign sweep add) lands the same way
  const point = parsePoint(spec, 'variant=factor-vae,gamma=40,arch=attention,latent=6,seed=3');
  t.is(point.key, 'variant=factor-vae,gamma=40,arch=attention,latent=6,seed=3');
  t.like(trainConfigFor(spec, point, 'x').model, { variant: 'factor-vae', architecture: 'attention', factorVae: { gamma: 40 } });
});

const familyBase = {
  name: 'family',
  dataset: 'dsprites-small',
  model: { imageSize: 32 },
  train: { steps: 10, batchSize: 8 },
};

test('a parameter that does not belong to its variant is refused, naming its own parameters and the fix', (t) => {
  const err = t.throws(
    () =>
      validateSweepSpec({
        ...familyBase,
        search: { variants: { 'factor-vae': { beta: [1, 4] }, 'beta-vae': { beta: [1] }, gan: {} }, grid: { gamma: [10] }, seeds: [0] },
      }),
    { instanceOf: SweepSpecError },
  );
  t.deepEqual(
    err!.issues.map((i) => i.field),
    ['search.variants.factor-vae.beta', 'search.variants.gan', 'search.grid.gamma'],
  );
  t.regex(
    err!.message,
    /search\.variants\.factor-vae\.beta: got "beta"; beta does not belong to factor-vae \(factor-vae's own parameters: gamma \(model\.factorVae\.gamma\)\); beta is a parameter of beta-vae, dcign, beta-tcvae: move it under search\.variants\.beta-vae/,
  );
  t.regex(err!.message, /search\.grid\.gamma: got "gamma"; gamma does not belong to beta-vae/);
  // one fixed variant: the grid's parameter must be its own
  const fixed = t.throws(
    () => validateSweepSpec({ ...familyBase, model: { variant: 'dip-vae-i', imageSize: 32 }, search: { grid: { beta: [1, 2] }, seeds: [0] } }),
    { instanceOf: SweepSpecError },
  );
  t.regex(fixed!.message, /search\.grid\.beta: got "beta"; beta does not belong to dip-vae-i \(dip-vae-i's own parameters: lambdaOd \(model\.dip\.lambdaOd\), lambdaDFactor \(model\.dip\.lambdaDFactor\)\).*use lambdaOd or lambdaDFactor instead/);
  // a shared parameter owned by every crossed variant is fine; so is an unknown architecture's refusal
  t.notThrows(() => validateSweepSpec({ ...familyBase, search: { grid: { variant: ['beta-vae', 'beta-tcvae', 'dcign'], beta: [1, 4] }, seeds: [0] } }));
  const arch = t.throws(() => validateSweepSpec({ ...familyBase, search: { variants: { 'beta-vae': {} }, grid: { architecture: ['unet'] }, seeds: [0] } }), {
    instanceOf: SweepSpecError,
  });
  t.regex(arch!.message, /search\.grid\.architecture\[0\]: got "unet"; expected one of standard, residual, attention/);
});

test.serial('every trial of the spec trains a few steps, and the summary keeps variants and architectures apart', async (t) => {
  const dataset = createBars();
  const statuses: TrialStatus[] = [];
  const names = new Set<string>();
  for (const trial of trials) {
    const cfg = trainConfigFor(spec, trial, join(root, trial.key.replace(/[^A-Za-z0-9=.-]/g, '_')));
    names.add(trialRunNameFor(cfg.model as Record<string, unknown>, trial.seed));
    // the spec's DCIGN assignment names dSprites' factors; the bars stand-in has others (x, y, intensity)
    const { dcign: _assignment, ...model } = cfg.model as Record<string, unknown>;
    const input: TrainConfigInput = {
      ...(cfg as TrainConfigInput),
      model: model as TrainConfigInput['model'],
      // a few steps of the spec's models at test size (FactorVAE's discriminator included, at its default 6 x 1000)
      steps: 2,
      batchSize: 4,
      logEvery: 1,
      checkpointEvery: 0,
      evalBatches: 0,
    };
    const r = await runTraining(input, { dataset });
    t.is(r.step, 2, trial.key);
    t.true(Number.isFinite(r.lastScalars?.loss), trial.key);
    if (trial.params.variant === 'factor-vae') t.true(r.parameters!.discriminator > 0 && Number.isFinite(r.lastScalars?.tc));
    statuses.push({
      key: trial.key,
      params: trial.params,
      seed: trial.seed,
      state: 'completed',
      step: r.step,
      generation: 0,
      losses: {},
      metrics: { loss: r.lastScalars!.loss!, kl: r.lastScalars!.kl! },
    });
  }
  t.is(names.size, trials.length, 'run names are distinct');
  t.true(names.has('factor-vae residual gamma=10 z=6 seed=0'));
  const progress: SweepProgress = { name: spec.name, state: 'completed', maxConcurrentTrials: 1, trials: statuses, continuedAsNew: 0 };
  const rows = sweepSummaryRows(progress, spec.model);
  t.like(rows.find((r) => r.variant === 'annealed-vae' && r.architecture === 'residual'), { param: 'capacity', paramValue: 25 });
  t.like(rows.find((r) => r.variant === 'dip-vae-ii'), { param: 'lambdaOd', paramValue: 10 });
  const md = summaryMarkdown(spec.name, rows);
  t.true(md.includes('| variant | arch | parameter | z | seeds | kl | loss |'));
  const lines = md.split('\n').filter((l) => /^\| [a-z]/.test(l) && !l.startsWith('| variant'));
  t.is(lines.length, trials.length, 'one row per variant x architecture');
  t.true(lines.some((l) => l.startsWith('| factor-vae | residual | gamma=10 | 6 | 1 |')));
  t.true(summaryCsv(rows).startsWith('trial,run_id,variant,architecture,param,param_value,beta,latent_size,seed,status,kl,loss\n'));
  const plots = [...summaryPlots(rows).keys()];
  t.is(plots.length, 2 * MODEL_VARIANTS.length, 'each metric against each variant\'s own parameter');
  t.true(plots.includes('summary/loss_factor-vae_vs_gamma.png'));
  t.true(plots.includes('summary/kl_annealed-vae_vs_capacity.png'));
  t.true(plots.includes('summary/loss_dip-vae-i_vs_lambdaOd.png'));
});
