// Every DCIGN trial of every spec in sweeps/ trains with an assignment that covers the dataset's factors (Kulkarni et
// al. 2015, Sec. 3.1): each varying factor has latents of its own, and no latent is clamped in every batch. A latent
// that no factor frees is clamped to the batch mean in every step, so it can only learn to carry nothing (issue 33:
// sweeps/dcign-scenes.yaml had no assignment and clamped 28 or 60 of its latents always).
import test from 'ava';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { openDataset } from '../../src/data/index.js';
import { resolveAssignment } from '../../src/model/dcign.js';
import { expandTrials, trainConfigFor } from '../../src/sweep/expand.js';
import { loadSweepSpec } from '../../src/sweep/spec.js';
import { resolveTrainConfig, type TrainConfigInput } from '../../src/train/config.js';

/** What is wrong with the DCIGN assignment of each trial of the spec in `file` (empty: nothing). */
function dcignAssignmentProblems(file: string): string[] {
  const spec = loadSweepSpec(file);
  const problems = new Set<string>();
  for (const trial of expandTrials(spec)) {
    const cfg = resolveTrainConfig(trainConfigFor(spec, trial, '/tmp/unused') as TrainConfigInput);
    if (cfg.model.variant !== 'dcign' || cfg.model.dcign === undefined) continue;
    const factors = openDataset(cfg.dataset, { imageSize: cfg.model.imageSize }).factors;
    const assignment = resolveAssignment(cfg.model.dcign, factors, cfg.model.latentSize);
    factors.forEach((f, i) => {
      if (f.size > 1 && (assignment[i] ?? []).length === 0) problems.add(`${trial.key}: factor ${f.name} varies but has no latent`);
    });
    const free = new Set(assignment.flat());
    const never = Array.from({ length: cfg.model.latentSize }, (_, j) => j).filter((j) => !free.has(j));
    if (never.length > 0) problems.add(`${trial.key}: latents ${never.join(', ')} are clamped in every batch (no factor frees them)`);
  }
  return [...problems];
}

const specs = readdirSync('sweeps').filter((f) => f.endsWith('.yaml'));

test('sweeps/ holds DCIGN specs to check (faces-dcign, dcign-scenes, model-family, seed-study)', (t) => {
  const withDcign = specs.filter((f) => expandTrials(loadSweepSpec(join('sweeps', f))).some((x) => (x.params.variant ?? loadSweepSpec(join('sweeps', f)).model.variant) === 'dcign'));
  t.true(withDcign.includes('faces-dcign.yaml') && withDcign.includes('dcign-scenes.yaml') && withDcign.includes('model-family.yaml'), withDcign.join(', '));
});

for (const file of specs) {
  test(`${file}: every DCIGN trial has an assignment covering the factors and every latent`, (t) => {
    t.deepEqual(dcignAssignmentProblems(join('sweeps', file)), []);
  });
}

test('the check catches the old dcign-scenes spec: no assignment, latents clamped in every batch', (t) => {
  const old = `name: old-dcign-scenes
dataset: scenes
model: { variant: dcign, imageSize: 64, beta: 1, dcign: { clamp: mean } }
train: { steps: 10, batchSize: 20, learningRate: 0.0005, logEvery: 5, checkpointEvery: 5 }
search: { grid: { latentSize: [32] }, seeds: [0] }
replicas: 1
taskQueue: q
`;
  const file = join(process.env.TMPDIR ?? '/tmp', `old-dcign-scenes-${process.pid}.yaml`);
  writeFileSync(file, old);
  try {
    const problems = dcignAssignmentProblems(file);
    t.is(problems.length, 1);
    t.regex(problems[0] ?? '', /latents 4, 5, .*31 are clamped in every batch/);
  } finally {
    rmSync(file, { force: true });
  }
});

test("specs name only real clamp options ('mean', 'first-sample') where they speak of the clamp", (t) => {
  for (const file of specs) {
    const text = readFileSync(join('sweeps', file), 'utf8');
    for (const line of text.split('\n').filter((l) => /clamp/i.test(l))) {
      for (const m of line.matchAll(/'([a-z-]+)'/g)) t.true(m[1] === 'mean' || m[1] === 'first-sample', `${file}: '${m[1]}' is no clamp option: ${line.trim()}`);
    }
  }
  t.false(/clamp: mean +# the paper's; 'first' is/.test(readFileSync('sweeps/dcign-scenes.yaml', 'utf8')));
});
