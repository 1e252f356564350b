// A sweep whose task queue no worker polls, against the real Temporal dev server: the CLI's building blocks say so
// at once (instead of queries that time out) and cancel terminates it on the server; with pollers they do not.
import anyTest from 'ava';
import type { TestFn } from 'ava';

import { startSweep, stopSweep, sweepProgress } from '../../src/sweep/control.js';
import { NoWorkerError, missingWorkers, noWorkerMessage } from '../../src/sweep/pollers.js';
import { controlQueue } from '../../src/contract/index.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { smallSpec, waitFor } from '../helpers/sweep-fixture.js';

const test = anyTest as TestFn<{ server: TemporalTestServer }>;

test('a queue with workflow pollers but no activity pollers is named with what is missing', (t) => {
  t.is(missingWorkers('q', { workflow: 1, training: 1, control: 1 }), undefined);
  t.is(missingWorkers('q', { workflow: 0, training: 0, control: 0 }), 'no worker is polling task queue q; start one with `dcign worker --task-queue q`');
  t.regex(missingWorkers('q', { workflow: 1, training: 1, control: 0 }) ?? '', /none takes its bookkeeping activities \(q\.control\)/);
});

if (!temporalAvailable()) {
  test('temporal dev server binary is missing (scripts/setup-temporal.sh)', (t) => t.fail());
} else {
  test.before(async (t) => {
    t.context = { server: await startTemporal() };
  });

  test.after.always(async (t) => {
    await t.context.server?.stop();
  });

  test.serial('no worker: start is told, progress fails naming the fix, cancel terminates the sweep on the server', async (t) => {
    const { client } = t.context.server;
    await startSweep(client, smallSpec('lonely', 'nobody-polls'));
    t.is(await noWorkerMessage(client, 'default', 'nobody-polls'), 'no worker is polling task queue nobody-polls; start one with `dcign worker --task-queue nobody-polls`');
    const err = await t.throwsAsync(sweepProgress(client, 'lonely'), { instanceOf: NoWorkerError });
    t.regex(err?.message ?? '', /sweep 'lonely' is running in Temporal .*no worker is polling task queue nobody-polls/);
    const out = await stopSweep(client, 'lonely');
    t.like(out, { how: 'terminated', trials: 0 });
    t.is((await client.workflow.getHandle('sweep/lonely').describe()).status.name, 'TERMINATED');
  });

  test.serial('pollers on the queue and its control queue: no message, and cancel goes to the workflow as a signal', async (t) => {
    const { client, connection } = t.context.server;
    const queue = 'polled';
    // Long polls as a worker makes them (the server wants a deadline) register these pollers; aborted at the end.
    const ac = new AbortController();
    const identity = 'no-worker-test';
    const workflowPoll = new AbortController();
    const poll = <T>(fn: () => Promise<T>, signal = ac.signal) =>
      connection.withAbortSignal(signal, () => connection.withDeadline(Date.now() + 120_000, fn)).catch(() => undefined);
    const taskQueue = { name: queue };
    const polls = [
      poll(() => client.workflowService.pollWorkflowTaskQueue({ namespace: 'default', taskQueue, identity }), workflowPoll.signal),
      poll(() => client.workflowService.pollActivityTaskQueue({ namespace: 'default', taskQueue, identity })),
      poll(() => client.workflowService.pollActivityTaskQueue({ namespace: 'default', taskQueue: { name: controlQueue(queue) }, identity })),
    ];
    try {
      await waitFor('the pollers to register', async () => ((await noWorkerMessage(client, 'default', queue)) === undefined ? true : undefined));
      // The server remembers a poller for minutes; ending this poll keeps the sweep's first workflow task unclaimed,
      // so the signal lands in the history at once instead of waiting behind a task nobody completes.
      workflowPoll.abort();
      await polls[0];
      const handle = await startSweep(client, smallSpec('served', queue));
      t.like(await stopSweep(client, 'served'), { how: 'signalled' });
      const history = await handle.fetchHistory();
      t.true(history.events?.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'cancel'));
      t.is((await handle.describe()).status.name, 'RUNNING', 'the signal waits for a worker; nothing was terminated');
      await handle.terminate('test cleanup');
    } finally {
      ac.abort();
      await Promise.all(polls);
    }
  });
}
