#!/usr/bin/env node
// The dcign executable: the parser of ./parser.ts (one yargs CommandModule per file under ./commands), run.
import { hideBin } from 'yargs/helpers';
import { buildCli } from './parser.js';

export async function main(argv: readonly string[]): Promise<void> {
  await buildCli(hideBin([...argv]))
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
