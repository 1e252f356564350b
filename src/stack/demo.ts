// The demo flow behind `npm run demo`; see src/cli/commands/demo.ts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { sweepStart } from '../sweep/cli.js';
import { noWorkerMessage } from '../sweep/pollers.js';
import { exportsFor, stackEndpoints } from './endpoints.js';
import { projectRoot } from './paths.js';
import type { StackOptions } from './services.js';
import { stackUp, tail } from './stack.js';
import { localWorkers, startLocalWorker, workerLogFiles } from './workers.js';
import { PLAINTEXT, temporalConnectionOptions } from '../temporal-connection.js';

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
  console.log(`   waiting for them to poll task queue ${taskQueue} (they bundle the workflow code first)...`);
  await waitForPollers(dir, ep.temporalAddress, taskQueue);
  console.log(`   polling`);

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

/** Resolves once the queue and its control queue have pollers; throws when the demo's workers have all exited. */
async function waitForPollers(stateDir: string, address: string, taskQueue: string): Promise<void> {
  const connection = await Connection.connect(temporalConnectionOptions(address, PLAINTEXT)); // the local dev stack: plaintext
  try {
    const client = new Client({ connection, namespace: 'default' });
    while ((await noWorkerMessage(client, 'default', taskQueue)) !== undefined) {
      if (localWorkers(stateDir).length === 0) {
        const logs = workerLogFiles(stateDir);
        throw new Error(`the demo's workers exited before polling task queue ${taskQueue}; their logs end with:\n${logs.map((f) => `${f}:\n${tail(f, 10)}`).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await connection.close();
  }
}
