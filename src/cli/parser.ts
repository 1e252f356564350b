// The dcign command line as a yargs parser: every CommandModule under ./commands, strict about unknown flags.
// main.ts runs it; test/docs.test.ts parses the documentation's commands with it (dry: no handler runs).
import yargs, { type Argv } from 'yargs';
import { commands } from './commands/index.js';

export function buildCli(args: readonly string[]): Argv {
  let cli = yargs([...args])
    .scriptName('dcign')
    .usage('$0 <command>\n\nDistributed experiment orchestration for DCIGN and the beta-VAE family.')
    .strict()
    .demandCommand(1, 'Name a command; `dcign --help` lists them.')
    .recommendCommands()
    .wrap(Math.min(120, process.stdout.columns ?? 120))
    .help();
  for (const command of commands) cli = cli.command(command);
  return cli;
}

/** Thrown by dryParse's middleware once a command line has parsed and validated: its handler never runs. */
class Parsed extends Error {}

/**
 * Parses and validates one command line as `dcign` would (commands, sub-commands, flags, choices, checks) without
 * running its handler. Resolves when it is valid; rejects with yargs' message when it is not.
 */
export async function dryParse(args: readonly string[]): Promise<void> {
  const cli = buildCli(args)
    .middleware(() => {
      throw new Parsed();
    })
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    });
  try {
    await cli.parseAsync();
  } catch (err) {
    if (err instanceof Parsed) return;
    throw err;
  }
  throw new Error(`dcign ${args.join(' ')}: parsed without reaching a command`);
}
