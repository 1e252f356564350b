// The demo flow behind `npm run demo`; see src/cli/commands/demo.ts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { sweepStart } from '../sweep/cli.js';
import { exportsFor, stackEndpoints } from './endpoints.js';
import { projectRoot } from './paths.js';
import type { StackOptions } from './services.js';
import { stackUp } from './stack.js';
import { localWorkers, startLocalWorker } from './workers.js';

export interface DemoOptions {
  readonly specPath: string;
  readonly workers: number;
  readonly slots: number;
  /** Where the stack runs (`dev up`'s flags). */
  readonly stack: StackOptions;
}

export async function runDemo(o: DemoOptions): Promise<void> {
  const dir = o.stack.stateDir;
  const ep = stackEndpoints(o.stack);
  const step = (msg: string) => console.log(`\n== ${msg}`);

  step('local stack: Temporal dev server + MLflow');
  await stackUp(o.stack, (m) => console.log(`   ${m}`));

  const raw = parse(readFileSync(resolve(projectRoot, o.specPath), 'utf8')) as Record<string, unknown>;
  const taskQueue = typeof raw.taskQueue === 'string' ? raw.taskQueue : 'dcign-train';
  step(`workers: ${o.workers} x ${o.slots} training slots on task queue ${taskQueue}`);
  const running = localWorkers(dir);
  for (let i = running.length; i < o.workers; i++) {
    const w = startLocalWorker(dir, `worker-${i + 1}`, ['--task-queue', taskQueue, '--slots', String(o.slots), '--address', ep.temporalAddress], {
      MLFLOW_TRACKING_URI: ep.mlflowUri,
    });
    console.log(`   started worker pid ${w.pid} (log ${w.logFile})`);
  }
  for (const w of running) console.log(`   worker pid ${w.pid} already running`);

  // A fresh sweep name per run: a sweep id is refused while (or after) it exists, and a rerun should just work.
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const name = `${String(raw.name ?? 'smoke')}-${stamp}`;
  mkdirSync(join(dir, 'sweeps'), { recursive: true });
  const specFile = join(dir, 'sweeps', `${name}.yaml`);
  writeFileSync(specFile, stringify({ ...raw, name }));

  step(`sweep ${name} (from ${o.specPath}): started, followed to completion`);
  await sweepStart({ spec: specFile, wait: true, address: ep.temporalAddress, namespace: 'default', ui: ep.temporalUi, mlflowUri: ep.mlflowUri });

  step('browse');
  console.log(`   Temporal UI: ${ep.temporalUi}/namespaces/default/workflows`);
  console.log(`   MLflow UI:   ${ep.mlflowUri}`);
  const exports = exportsFor(o.stack);
  if (exports.length > 0) console.log(`   Other shells reach this stack with:\n${exports.map((l) => `     ${l}`).join('\n')}`);
  console.log(`   The stack and the workers stay up; \`npx dcign dev down\` stops them (\`npx dcign dev logs worker\` shows the workers' logs).`);
}
