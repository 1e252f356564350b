#!/usr/bin/env node
// The dcign executable: one yargs CommandModule per file under ./commands, registered here.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands/index.js';

export async function main(argv: readonly string[]): Promise<void> {
  let cli = yargs(hideBin([...argv]))
    .scriptName('dcign')
    .usage('$0 <command>\n\nDistributed experiment orchestration for DCIGN and the beta-VAE family.')
    .strict()
    .demandCommand(1, 'Name a command; `dcign --help` lists them.')
    .recommendCommands()
    .wrap(Math.min(120, process.stdout.columns ?? 120))
    .help();
  for (const command of commands) cli = cli.command(command);
  await cli
    .fail((msg, err, y) => {
      if (err) throw err;
      console.error(`${msg}\n\nRun \`dcign ${y.parsed ? '' : ''}--help\` for usage.`);
      process.exit(2);
    })
    .parseAsync();
}

main(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? `error: ${err.message}` : err);
  process.exit(1);
});
