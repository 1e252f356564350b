// A spec that claims disentanglement_lib's study (Locatello et al. 2019, or dlib / disentanglement_lib by name in its
// comments) trains dlib's architecture: its conv_encoder's kernels are 4, 4, 2, 2 (Locatello et al. 2019, Table 1),
// where our default ('higgins', Higgins et al. 2017) is 4x4 throughout. Issue 33: sweeps/model-family.yaml called
// itself dlib's study and inherited the default.
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { resolveModelConfig, type ModelConfig } from '../../src/model/config.js';
import { kernelSizes } from '../../src/model/param-specs.js';
import { loadSweepSpec } from '../../src/sweep/spec.js';

const CLAIMS = /disentanglement_lib|Locatello|\bdlib's (study|sweep|architecture)/;

/** The spec's header comment: its leading lines that start with '#'. */
function header(text: string): string {
  const lines = text.split('\n');
  const end = lines.findIndex((l) => !l.startsWith('#'));
  return lines.slice(0, end < 0 ? lines.length : end).join('\n');
}

const claiming = readdirSync('sweeps')
  .filter((f) => f.endsWith('.yaml'))
  .filter((f) => CLAIMS.test(header(readFileSync(join('sweeps', f), 'utf8'))));

test('the specs that claim disentanglement_lib parity are found (model-family, dsprites-beta)', (t) => {
  t.true(claiming.includes('model-family.yaml') && claiming.includes('dsprites-beta.yaml'), claiming.join(', '));
});

for (const file of claiming) {
  test(`${file} claims disentanglement_lib parity and trains dlib's encoder (kernels 4, 4, 2, 2)`, (t) => {
    const spec = loadSweepSpec(join('sweeps', file));
    const model = resolveModelConfig(spec.model as Partial<ModelConfig>);
    t.is(model.encoderKernels, 'dlib');
    t.deepEqual(kernelSizes(model.encoderKernels), [4, 4, 2, 2]);
  });
}
