// `dcign data info <dataset>` and `dcign data preview <dataset> --out grid.png`: what a dataset's factors are, and what
// its images look like when one factor varies at a time. Handlers import the implementation lazily.
import type { Argv, CommandModule } from 'yargs';

const DATASET_HELP =
  'dsprites, dsprites-small, scenes, faces, shapes3d (RGB), npz:<path> (images with or without factors), or ' +
  'images:<folder> (PNG/JPEG, unlabelled)';

interface CommonArgs {
  dataset: string;
  'image-size'?: number;
}

interface InfoArgs extends CommonArgs {
  json: boolean;
}

interface PreviewArgs extends CommonArgs {
  out: string;
  columns: number;
  seed: number;
}

function datasetPositional<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .positional('dataset', { type: 'string', describe: DATASET_HELP, demandOption: true })
    .option('image-size', {
      type: 'number',
      describe: 'render the generated datasets (or resize an images: folder) at this size (e.g. 32); not for npz files',
    })
    .check((argv) => {
      const size = argv['image-size'];
      if (size !== undefined && (!Number.isInteger(size) || size < 8 || size > 512)) {
        throw new Error(`--image-size must be an integer in [8, 512], got ${size}`);
      }
      if (size !== undefined && String(argv.dataset).startsWith('npz:')) {
        throw new Error('--image-size applies to generated datasets; an npz file has its own image size');
      }
      return true;
    }) as Argv<T & CommonArgs>;
}

export const dataInfoCommand: CommandModule<object, InfoArgs> = {
  command: 'info <dataset>',
  describe: 'Print the factors of a dataset, their sizes and values',
  builder: (y) =>
    datasetPositional(y).option('json', {
      type: 'boolean',
      default: false,
      describe: 'print one JSON object',
    }) as Argv<InfoArgs>,
  handler: async (argv) => {
    const { runDataInfo } = await import('../../data/cli.js');
    await runDataInfo(argv.dataset, { imageSize: argv['image-size'], json: argv.json });
  },
};

export const dataPreviewCommand: CommandModule<object, PreviewArgs> = {
  command: 'preview <dataset>',
  describe: 'Write a PNG grid with one row per factor, that factor varying and the others fixed',
  builder: (y) =>
    datasetPositional(y)
      .option('out', { type: 'string', demandOption: true, describe: 'PNG file to write (written atomically)' })
      .option('columns', { type: 'number', default: 10, describe: 'images per row' })
      .option('seed', { type: 'number', default: 0, describe: 'picks the combination the other factors are fixed to' })
      .check((argv) => {
        if (!argv.out.toLowerCase().endsWith('.png')) throw new Error(`--out must name a .png file, got '${argv.out}'`);
        if (!Number.isInteger(argv.columns) || argv.columns < 1 || argv.columns > 64) {
          throw new Error(`--columns must be an integer in [1, 64], got ${argv.columns}`);
        }
        if (!Number.isInteger(argv.seed)) throw new Error(`--seed must be an integer, got ${argv.seed}`);
        return true;
      }) as Argv<PreviewArgs>,
  handler: async (argv) => {
    const { runDataPreview } = await import('../../data/cli.js');
    await runDataPreview(argv.dataset, argv.out, {
      imageSize: argv['image-size'],
      columns: argv.columns,
      seed: argv.seed,
    });
  },
};

export const dataCommand: CommandModule = {
  command: 'data',
  describe: 'Inspect datasets with ground-truth factors: info, preview',
  builder: (y) =>
    y
      .command(dataInfoCommand as unknown as CommandModule)
      .command(dataPreviewCommand as unknown as CommandModule)
      .demandCommand(1, 'Name a data command: info or preview.'),
  handler: () => {
    // Sub-commands do the work; yargs refuses a bare `dcign data` through demandCommand.
  },
};
