// Tests run from the compiled output; server tests share real Temporal/MLflow servers, so one file at a time.
//
// A whole-suite run (`ava` with no file arguments, as `npm test` runs it) starts one MLflow server here, before any
// file, and hands its URI to every test file in DCIGN_TEST_MLFLOW_URI (test/helpers/mlflow.ts testMlflowServer());
// a server takes up to half a minute to come up on a loaded machine, once per file otherwise. It is killed when ava
// exits. DCIGN_TEST_SHARED_MLFLOW=0 turns this off, =1 turns it on for runs of single files too.
/* global process, console */
import { rmSync } from 'node:fs';

function wholeSuite() {
  const args = process.argv.slice(2);
  return !args.some((a) => !a.startsWith('-') && /\.(c|m)?js$|\//.test(a));
}

async function sharedMlflow() {
  const wanted = process.env.DCIGN_TEST_SHARED_MLFLOW ?? (wholeSuite() ? '1' : '0');
  if (wanted !== '1' || process.env.DCIGN_TEST_MLFLOW_URI) return;
  const { startMlflowServer } = await import('./dist/test/helpers/mlflow.js');
  const t0 = Date.now();
  const server = await startMlflowServer({ unref: true });
  // startMlflowServer kills the server's process group when this process exits; its files go with it.
  process.once('exit', () => rmSync(server.dir, { recursive: true, force: true }));
  process.env.DCIGN_TEST_MLFLOW_URI = server.uri;
  console.error(`ava.config.js: MLflow server shared by every test file at ${server.uri} (up in ${((Date.now() - t0) / 1000).toFixed(1)} s; log ${server.dir}/server.log)`);
}

export default async () => {
  await sharedMlflow();
  return {
    files: ['dist/test/**/*.test.js'],
    concurrency: 1,
    workerThreads: false,
    timeout: '5m',
    verbose: true,
  };
};
