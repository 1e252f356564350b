// Runs one evaluation in its own process: metrics are CPU-bound for seconds to minutes, and on the worker's event
// loop they would starve the heartbeats of the training replicas it supervises. Reads the EvaluateRequest as JSON
// from argv[2], writes progress as JSON lines on stderr and the metrics as one JSON line on stdout.
import { readFileSync } from 'node:fs';

import type { EvaluateRequest } from './activity-deps.js';
import { evaluateTrial } from './evaluate.js';

async function run(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: evaluate-child.js <request.json>');
  const req = JSON.parse(readFileSync(file, 'utf8')) as EvaluateRequest;
  const metrics = await evaluateTrial(req, (e) => {
    if (e.type !== 'images') process.stderr.write(`${JSON.stringify({ progress: e.type, trial: req.trialKey, ...e })}\n`);
  });
  process.stdout.write(`${JSON.stringify({ metrics })}\n`);
}

run().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
