// Placeholder until its issue lands: the command exists so `--help` lists it, and says plainly it is not built yet.
import type { CommandModule } from 'yargs';

export const devCommand: CommandModule = {
  command: 'dev',
  describe: '(not built yet)',
  handler: () => {
    throw new Error('dcign dev is not built yet.');
  },
};
