// `npm run test:deploy`: the container deployment (test/deploy/*.deploy.ts), kept out of `npm test` because it builds
// images and trains through a container kill for many minutes. Runs from the compiled output, like ava.config.js.
export default {
  files: ['dist/test/deploy/*.deploy.js'],
  concurrency: 1,
  workerThreads: false,
  timeout: '45m',
  verbose: true,
};
