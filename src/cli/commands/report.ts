// `dcign report <sweep>`: the study report of a sweep, built from what MLflow holds (src/report). The handler imports
// the implementation lazily so `dcign --help` stays fast.
import type { CommandModule } from 'yargs';

interface ReportArgs {
  sweep: string;
  out?: string;
  upload: boolean;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <sweep>',
  describe: "One HTML page (with its PNGs and GIFs) answering a sweep's question, from MLflow; logged to the sweep's parent run under report/",
  builder: (y) =>
    y
      .positional('sweep', { type: 'string', demandOption: true, describe: 'sweep name (its MLflow experiment)' })
      .option('out', { type: 'string', describe: 'folder for index.html and its files (default reports/<sweep>)' })
      .option('upload', { type: 'boolean', default: true, describe: "log the folder to the sweep's parent run (--no-upload: local only)" }) as never,
  handler: async (a) => {
    const { resolveEndpoints } = await import('../../stack/endpoints.js');
    const { MlflowClient, clientOptionsFromEnv } = await import('../../tracking/index.js');
    const { buildReport } = await import('../../report/build.js');
    const trackingUri = resolveEndpoints({}).mlflowUri;
    const client = new MlflowClient({ ...clientOptionsFromEnv(), trackingUri });
    try {
      const r = await buildReport(client, { sweep: a.sweep, out: a.out ?? `reports/${a.sweep}`, trackingUri, upload: a.upload });
      console.log(`report: ${r.html} (${r.data.trials.length} trials, ${r.analysis.groups.length} configurations, ranked by ${r.analysis.ranking.metric})`);
      if (r.artifactUri) console.log(`logged to MLflow: ${r.artifactUri}`);
    } finally {
      client.close();
    }
  },
};
