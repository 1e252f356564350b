// The README and docs/ as a newcomer uses them: the README stays a front door (<= 150 lines), every link and every
// file it names exists, every `dcign` command written in a code block parses against the real CLI (commands,
// sub-commands, flags, choices; no handler runs), every `npm run` script exists, and a section that starts a sweep
// starts its worker on that spec's task queue.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

import { dryParse } from '../src/cli/parser.js';
import { projectRoot } from '../src/stack/paths.js';
import { loadSweepSpec } from '../src/sweep/spec.js';

const pages = ['README.md', ...readdirSync(join(projectRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), 'deploy/README.md'];
const read = (page: string): string => readFileSync(join(projectRoot, page), 'utf8');

/** Lines of a page's code blocks (indented by 4 spaces, or fenced). */
function codeLines(text: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (fenced || /^ {4}/.test(line)) out.push(line.trim());
  }
  return out;
}

/**
 * A documented command line as the argv a user would type: the comment and a trailing `&` dropped, `[optional]`
 * parts kept, `a|b` alternatives as their first, `<placeholder>` and `$(...)` as one word, `...` dropped.
 */
export function argvOf(line: string): string[] {
  const text = line
    .replace(/\s+#\s.*$/, '')
    .replace(/\s*&$/, '')
    .replace(/\$\([^)]*\)/g, 'x')
    .replace(/<[^>]*>/g, 'x')
    .replace(/[[\]]/g, ' ');
  return text
    .split(/\s+/)
    .filter((w) => w !== '' && w !== '...')
    .map((w) => (w.includes('|') && !w.includes('/') ? (w.split('|')[0] as string) : w));
}

test('the README is a front door: at most 150 lines, linking every docs page', (t) => {
  const readme = read('README.md');
  t.true(readme.split('\n').length <= 150, `README.md has ${readme.split('\n').length} lines`);
  for (const page of pages.filter((p) => p.startsWith('docs/'))) t.true(readme.includes(`](${page})`), `README links ${page}`);
});

test('every relative link and anchor in the README and docs resolves', (t) => {
  const slug = (heading: string): string => heading.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
  let links = 0;
  for (const page of pages) {
    for (const m of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] as string;
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const path = file === '' ? join(projectRoot, page) : join(projectRoot, dirname(page), file);
      t.true(existsSync(path), `${page}: link ${target} -> ${relative(projectRoot, path)} does not exist`);
      if (anchor !== undefined && existsSync(path) && path.endsWith('.md')) {
        const headings = [...readFileSync(path, 'utf8').matchAll(/^#+ (.+)$/gm)].map((h) => slug(h[1] as string));
        t.true(headings.includes(anchor), `${page}: link ${target}: no heading #${anchor} in ${relative(projectRoot, path)}`);
      }
      links += 1;
    }
  }
  t.true(links >= 10, `links found: ${links}`);
});

test('every file the README and docs name in backquotes exists', (t) => {
  let named = 0;
  for (const page of pages) {
    for (const m of read(page).matchAll(/`((?:src|test|bench|scripts|sweeps|workflows|workers|deploy|native|docs)\/[\w./-]+\.(?:ts|yaml|sh|py|md|c|json))`/g)) {
      const file = m[1] as string;
      if (file.includes('<') || file.includes('*')) continue;
      t.true(existsSync(join(projectRoot, file)), `${page} names ${file}, which does not exist`);
      named += 1;
    }
  }
  t.true(named >= 20, `files named: ${named}`);
});

test('every dcign command in the README and docs parses against the real CLI', async (t) => {
  let parsed = 0;
  for (const page of pages) {
    for (const line of codeLines(read(page)).filter((l) => l.startsWith('dcign '))) {
      const argv = argvOf(line).slice(1);
      await t.notThrowsAsync(dryParse(argv), `${page}: ${line}`);
      parsed += 1;
    }
  }
  t.true(parsed >= 40, `commands parsed: ${parsed}`);
  // The check is able to fail: a flag no command has, and a sub-command that does not exist.
  await t.throwsAsync(dryParse(argvOf('dcign sweep start sweeps/smoke.yaml --wiat').slice(1)), { message: /Unknown argument: wiat/ });
  await t.throwsAsync(dryParse(argvOf('dcign sweep begin x').slice(1)));
});

test('every npm run script in the README and docs exists in package.json', (t) => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  let named = 0;
  for (const page of pages) {
    for (const m of read(page).matchAll(/npm run ([\w:-]+)/g)) {
      t.true((m[1] as string) in scripts, `${page}: npm run ${m[1]} is not a script`);
      named += 1;
    }
  }
  t.true(named >= 5);
});

test("every section that starts a sweep starts its worker on the spec's task queue", (t) => {
  let checked = 0;
  for (const page of pages) {
    for (const section of read(page).split(/\n(?=## )/)) {
      const specs = [...section.matchAll(/sweep start (sweeps\/[\w.-]+\.yaml)/g)].map((m) => m[1] as string);
      const queues = [...section.matchAll(/worker --task-queue ([\w.-]+)/g)].map((m) => m[1] as string);
      if (specs.length === 0 || queues.length === 0) continue;
      for (const spec of specs) {
        const queue = loadSweepSpec(join(projectRoot, spec)).taskQueue;
        t.true(queues.includes(queue), `${page} ${section.split('\n')[0]}: ${spec} runs on ${queue}, the worker polls ${queues.join(', ')}`);
        checked += 1;
      }
    }
  }
  t.true(checked >= 3, `sections checked: ${checked}`);
});
