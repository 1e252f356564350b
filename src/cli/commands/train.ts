// Placeholder until its issue lands: the command exists so `--help` lists it, and says plainly it is not built yet.
import type { CommandModule } from 'yargs';

export const trainCommand: CommandModule = {
  command: 'train',
  describe: '(not built yet)',
  handler: () => {
    throw new Error('dcign train is not built yet.');
  },
};
