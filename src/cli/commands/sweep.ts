// Placeholder until its issue lands: the command exists so `--help` lists it, and says plainly it is not built yet.
import type { CommandModule } from 'yargs';

export const sweepCommand: CommandModule = {
  command: 'sweep',
  describe: '(not built yet)',
  handler: () => {
    throw new Error('dcign sweep is not built yet.');
  },
};
