// Tests run from the compiled output; server tests share real Temporal/MLflow servers, so one file at a time.
export default {
  files: ['dist/test/**/*.test.js'],
  concurrency: 1,
  workerThreads: false,
  timeout: '5m',
  verbose: true,
};
