import test from 'ava';
import { MLFLOW_LIMITS, splitBatches, validateKey, validateParam, type MetricPoint } from '../../src/tracking/batch.js';
import { MlflowError } from '../../src/tracking/errors.js';
import { trackingUriFromEnv, clientOptionsFromEnv } from '../../src/tracking/options.js';
import { proxyPathFromArtifactUri } from '../../src/tracking/wire.js';

const metric = (i: number): MetricPoint => ({ key: `m${i % 7}`, value: i / 3, step: i, timestamp: 1_700_000_000_000 });

test('splitBatches keeps every item, in order, within every limit', (t) => {
  const metrics = Array.from({ length: 2501 }, (_, i) => metric(i));
  const params = Array.from({ length: 250 }, (_, i) => ({ key: `p${i}`, value: 'v'.repeat(3000) }));
  const tags = Array.from({ length: 130 }, (_, i) => ({ key: `t${i}`, value: 'w'.repeat(4000) }));
  const batches = splitBatches({ metrics, params, tags });
  for (const b of batches) {
    t.true(b.metrics.length <= 1000);
    t.true(b.params.length <= 100);
    t.true(b.tags.length <= 100);
    t.true(b.metrics.length + b.params.length + b.tags.length <= 1000);
    const bytes = Buffer.byteLength(JSON.stringify({ run_id: 'x'.repeat(32), ...b }));
    t.true(bytes <= MLFLOW_LIMITS.maxBytes, `batch of ${bytes} bytes`);
  }
  t.deepEqual(batches.flatMap((b) => b.metrics), metrics);
  t.deepEqual(batches.flatMap((b) => b.params), params);
  t.deepEqual(batches.flatMap((b) => b.tags), tags);
  // 250 params of 3000 chars are ~750 kB: the byte limit, not the count, splits them.
  t.true(batches.length >= 6);
});

test('splitBatches of 1000 metrics exactly is one request; 1001 is two', (t) => {
  t.is(splitBatches({ metrics: Array.from({ length: 1000 }, (_, i) => metric(i)) }).length, 1);
  t.is(splitBatches({ metrics: Array.from({ length: 1001 }, (_, i) => metric(i)) }).length, 2);
});

test('too-long params and bad keys fail clearly instead of being truncated', (t) => {
  const err = t.throws(() => validateParam('model.notes', 'x'.repeat(6001)), { instanceOf: MlflowError });
  t.regex(err?.message ?? '', /model\.notes.*6001 characters.*6000/);
  t.notThrows(() => validateParam('ok', 'x'.repeat(6000)));
  t.throws(() => validateKey('metric', 'k'.repeat(251)), { message: /251 characters/ });
  t.throws(() => validateKey('metric', '/abs'), { message: /normalised path/ });
  t.throws(() => validateKey('metric', 'a//b'), { message: /normalised path/ });
  t.throws(() => validateKey('metric', 'a/../b'), { message: /normalised path/ });
  t.notThrows(() => validateKey('metric', 'kl/dim_3'));
});

test('artifact URIs map to proxy paths; other stores are refused with a fix', (t) => {
  t.is(proxyPathFromArtifactUri('mlflow-artifacts:/3/abc/artifacts'), '3/abc/artifacts');
  t.is(proxyPathFromArtifactUri('mlflow-artifacts://host:5000/3/abc/artifacts'), '3/abc/artifacts');
  t.is(proxyPathFromArtifactUri('http://h:5000/api/2.0/mlflow-artifacts/artifacts/3/abc/artifacts'), '3/abc/artifacts');
  t.throws(() => proxyPathFromArtifactUri('/var/mlruns/3/abc/artifacts'), { message: /--serve-artifacts/ });
});

test('environment is read as MLflow reads it', (t) => {
  t.is(trackingUriFromEnv({}), 'http://127.0.0.1:5000');
  t.is(trackingUriFromEnv({ MLFLOW_TRACKING_URI: 'https://mlflow.example:443' }), 'https://mlflow.example:443');
  const o = clientOptionsFromEnv({
    MLFLOW_TRACKING_URI: 'https://h',
    MLFLOW_TRACKING_TOKEN: 'tok',
    MLFLOW_TRACKING_INSECURE_TLS: 'true',
    MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2',
    MLFLOW_HTTP_REQUEST_TIMEOUT: '5',
  });
  t.like(o, { trackingUri: 'https://h', token: 'tok', insecureTls: true, maxRetries: 2, timeoutMs: 5000 });
});
