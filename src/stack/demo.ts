// The demo flow behind `npm run demo`; see src/cli/commands/demo.ts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { sweepStart } from '../sweep/cli.js';
import { projectRoot, stateDir } from './paths.js';
import { DEFAULT_STACK_PORTS } from './services.js';
import { stackUp } from './stack.js';
import { localWorkers, startLocalWorker } from './workers.js';

export interface DemoOptions {
  readonly specPath: string;
  readonly workers: number;
  readonly slots: number;
}

export async function runDemo(o: DemoOptions): Promise<void> {
  const dir = stateDir();
  const step = (msg: string) => console.log(`\n== ${msg}`);

  step('local stack: Temporal dev server + MLflow');
  await stackUp({ host: '127.0.0.1', ...DEFAULT_STACK_PORTS, stateDir: dir }, (m) => console.log(`   ${m}`));

  const raw = parse(readFileSync(resolve(projectRoot, o.specPath), 'utf8')) as Record<string, unknown>;
  const taskQueue = typeof raw.taskQueue === 'string' ? raw.taskQueue : 'dcign-train';
  step(`workers: ${o.workers} x ${o.slots} training slots on task queue ${taskQueue}`);
  const running = localWorkers(dir);
  for (let i = running.length; i < o.workers; i++) {
    const w = startLocalWorker(dir, `worker-${i + 1}`, ['--task-queue', taskQueue, '--slots', String(o.slots), '--address', `127.0.0.1:${DEFAULT_STACK_PORTS.temporalPort}`]);
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
  process.env.MLFLOW_TRACKING_URI ??= `http://127.0.0.1:${DEFAULT_STACK_PORTS.mlflowPort}`;
  await sweepStart({
    spec: specFile,
    wait: true,
    address: `127.0.0.1:${DEFAULT_STACK_PORTS.temporalPort}`,
    namespace: 'default',
    ui: `http://localhost:${DEFAULT_STACK_PORTS.temporalUiPort}`,
  });

  step('browse');
  console.log(`   Temporal UI: http://localhost:${DEFAULT_STACK_PORTS.temporalUiPort}/namespaces/default/workflows`);
  console.log(`   MLflow UI:   http://localhost:${DEFAULT_STACK_PORTS.mlflowPort}`);
  console.log(`   The stack and the workers stay up; \`npx dcign dev down\` (or node dist/src/cli/main.js dev down) stops them.`);
}
