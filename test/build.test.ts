// Tests run from dist/, so a test deleted or renamed in test/ would keep running from its stale .js (and a stale
// test can mask a broken one) unless the build starts from an empty dist/. `npm run build` removes it first.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { projectRoot } from '../src/stack/paths.js';

const SOURCE_DIRS = ['src', 'workflows', 'workers', 'test', 'bench'];

function files(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name), suffix).map((f) => path.join(e.name, f)) : e.name.endsWith(suffix) ? [e.name] : [],
  );
}

test('every compiled .js in dist/ has its .ts source: nothing stale from a deleted or renamed file runs', (t) => {
  const stale: string[] = [];
  let compiled = 0;
  for (const dir of SOURCE_DIRS) {
    for (const js of files(path.join(projectRoot, 'dist', dir), '.js')) {
      compiled += 1;
      const ts = path.join(projectRoot, dir, js.replace(/\.js$/, '.ts'));
      if (!existsSync(ts)) stale.push(path.join('dist', dir, js));
    }
  }
  t.true(compiled > 100, `dist/ holds ${compiled} compiled files: was the project built?`);
  t.deepEqual(stale, [], `stale compiled files without a source (run \`npm run build\`, which empties dist/ first): ${stale.join(', ')}`);
});
