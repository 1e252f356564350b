// A second run of the TensorFlow set-up rebuilds nothing: the binding and the graph addon are cached and in place.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/stack/paths.js';

test('setup-tensorflow.sh is idempotent: the second run rebuilds nothing', (t) => {
  const binding = join(projectRoot, 'node_modules', '@tensorflow', 'tfjs-node', 'lib', 'napi-v8', 'tfjs_binding.node');
  const script = join(projectRoot, 'scripts', 'setup-tensorflow.sh');
  execFileSync('bash', [script], { cwd: projectRoot, stdio: 'pipe' });
  const addon = join(projectRoot, 'build', 'tf-graph', 'cpu', 'dcign_tf_graph.node');
  const before = statSync(binding).mtimeMs;
  const addonBefore = statSync(addon).mtimeMs;
  const out = execFileSync('bash', [script], { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.regex(out, /already extracted/);
  t.regex(out, /nothing to rebuild/);
  t.notRegex(out, /building|downloading/);
  t.is(statSync(binding).mtimeMs, before, 'the binding file was not rewritten');
  t.is(statSync(addon).mtimeMs, addonBefore, 'the graph addon was not rewritten');
});
