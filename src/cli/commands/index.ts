// Every top-level command, in the order `dcign --help` shows them. Each module owns its own sub-commands.
import type { CommandModule } from 'yargs';
import { sweepCommand } from './sweep.js';
import { workerCommand } from './worker.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { udrCommand } from './udr.js';
import { reportCommand } from './report.js';
import { metricsCommand } from './metrics.js';
import { dataCommand } from './data.js';
import { devCommand } from './dev.js';
import { demoCommand } from './demo.js';
import { clusterCommand } from './cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: readonly CommandModule<any, any>[] = [
  sweepCommand,
  workerCommand,
  trainCommand,
  evalCommand,
  udrCommand,
  reportCommand,
  metricsCommand,
  dataCommand,
  devCommand,
  demoCommand,
  clusterCommand,
];
