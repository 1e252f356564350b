// `npm run demo`: the main job on the embedded stack. Brings the stack up, starts two local workers, runs the smoke
// sweep to completion under a fresh name (so running the demo twice works), prints the results and both UI links,
// and leaves everything up for browsing; `dcign dev down` stops it all. Takes `dev up`'s flags to move its ports.
import type { CommandModule } from 'yargs';
import { stackFlags, stackOptions, type StackArgs } from './dev.js';

interface DemoArgs extends StackArgs {
  spec: string;
  workers: number;
  slots: number;
}

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Run the smoke sweep end to end on the local stack (Temporal + MLflow + two workers)',
  builder: (y) =>
    stackFlags(y)
      .option('spec', { type: 'string', default: 'sweeps/smoke.yaml', describe: 'Sweep spec to run' })
      .option('workers', { type: 'number', default: 2, describe: 'Local worker processes' })
      .option('slots', { type: 'number', default: 2, describe: 'Training slots (replicas) per worker' })
      .check((a) => {
        if (!Number.isInteger(a.workers) || a.workers < 1) throw new Error(`--workers must be a positive integer, got ${a.workers}`);
        if (!Number.isInteger(a.slots) || a.slots < 1) throw new Error(`--slots must be a positive integer, got ${a.slots}`);
        return true;
      }),
  handler: async (a) => {
    const { runDemo } = await import('../../stack/demo.js');
    await runDemo({ specPath: a.spec, workers: a.workers, slots: a.slots, stack: await stackOptions(a) });
  },
};
