// deploy/ checked without Docker or Kubernetes (test/deploy/compose-run.deploy.ts runs the compose file for real):
// every YAML parses; every dcign command line in it passes the CLI's own checks (workers: `dcign worker`, the head:
// `dcign dev up`); images, ports, hosts, the cluster key mount and the GPU requests agree between compose and
// Kubernetes; each Dockerfile takes its base as an argument whose default is a public image; and the Kubernetes
// manifests pass kubeconform -strict against schemas made from Kubernetes' own OpenAPI document.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import yargs from 'yargs';
import { parseAllDocuments } from 'yaml';

import { stackFlags } from '../src/cli/commands/dev.js';
import { workerCommand } from '../src/cli/commands/worker.js';
import { cacheDir, projectRoot } from '../src/stack/paths.js';
import { writeKubeconformSchemas } from './helpers/k8s-schemas.js';

const deployDir = path.join(projectRoot, 'deploy');
type Doc = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(path.join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [path.join(dir, e.name)] : [],
  );
}

function load(file: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true }); // compose's x-worker anchor is merged with <<
  if (!Array.isArray(docs)) return [];
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
  return docs.map((d) => d.toJS() as Doc).filter((d) => d !== null);
}

/** Compose interpolation of ${VAR}, ${VAR:-default} and ${VAR:?message}, nested, with the given environment. */
function interpolate(s: string, env: Record<string, string> = {}): string {
  let out = s;
  for (let i = 0; i < 10 && /\$\{/.test(out); i += 1) {
    out = out.replace(/\$\{(\w+)(?:(:-|:\?)([^${}]*))?\}/g, (_m, name: string, op: string | undefined, rest: string | undefined) =>
      env[name] ?? (op === ':-' ? (rest ?? '') : op === ':?' ? `<${name}>` : ''),
    );
  }
  return out;
}

const words = (c: unknown): string[] => (Array.isArray(c) ? c.map(String) : typeof c === 'string' ? c.trim().split(/\s+/) : []);
const flagName = (w: string): string => w.slice(2).split('=')[0] as string;

const compose = load(path.join(deployDir, 'compose.yaml'))[0] as Any;
const k8s = yamlFiles(path.join(deployDir, 'k8s')).flatMap(load) as Any[];
const k8sContainers = (): { kind: string; name: string; spec: Any; c: Any }[] =>
  k8s.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet').flatMap((d) =>
    (d.spec.template.spec.containers as Any[]).map((c) => ({ kind: d.kind as string, name: d.metadata.name as string, spec: d.spec.template.spec, c })),
  );
/** Every container's arguments in deploy/ (after the image's entrypoint): compose services and Kubernetes containers. */
const commandLines = (env: Record<string, string> = {}): { where: string; image: string; argv: string[] }[] => [
  ...Object.entries(compose.services as Record<string, Any>).map(([name, s]) => ({
    where: `compose ${name}`,
    image: s.image as string,
    argv: words(typeof s.command === 'string' ? interpolate(s.command, env) : s.command),
  })),
  ...k8sContainers().map(({ name, c }) => ({ where: `k8s ${name}`, image: c.image as string, argv: [...words(c.command), ...words(c.args)] })),
];

/** Parses argv with a yargs command as the CLI would (strict: unknown flags fail), without running it. */
async function parseWith(command: Any, argv: string[], where: string): Promise<Any> {
  return yargs(argv.map((a) => a.replace(/^<(\w+)>$/, '10.0.0.7')))
    .command({ ...command, handler: () => undefined } as never)
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(`${where}: ${msg}`);
    })
    .parseAsync();
}

function dcignWorkerOptions(): Set<string> {
  const y = (workerCommand.builder as (y: Any) => Any)(yargs([]));
  return new Set(Object.keys(y.getOptions().key as Record<string, unknown>));
}

test('every YAML file under deploy/ parses', (t) => {
  const files = yamlFiles(deployDir);
  t.true(files.length >= 4, files.join(', '));
  for (const f of files) t.notThrows(() => load(f), f);
  t.deepEqual(Object.keys(compose.services).sort(), ['cpu-worker-1', 'cpu-worker-2', 'head', 'worker']);
  const kinds = k8s.map((d) => `${d.kind}/${d.metadata?.name ?? ''}`).sort();
  for (const k of ['Deployment/dcign-worker', 'StatefulSet/dcign-head', 'Service/dcign-head', 'Namespace/dcign']) t.true(kinds.includes(k), kinds.join(', '));
});

test("every worker command line in deploy/ passes `dcign worker`'s checks, the head's `dcign dev up`'s", async (t) => {
  const options = dcignWorkerOptions();
  const lines = commandLines({ DCIGN_ADVERTISE_HOST: '10.0.0.7' });
  const workers = lines.filter((l) => l.image === 'dcign-worker:latest');
  t.deepEqual(workers.map((l) => l.where).sort(), ['compose cpu-worker-1', 'compose cpu-worker-2', 'compose worker', 'k8s dcign-worker']);
  for (const { where, argv } of workers) {
    t.is(argv[0], 'worker', where);
    for (const w of argv.filter((a) => a.startsWith('--'))) {
      const name = flagName(w);
      t.true(options.has(name) || (name.startsWith('no-') && options.has(name.slice(3))), `${where}: --${name} is not a dcign worker option`);
    }
    const parsed = await parseWith(workerCommand, argv, where);
    t.truthy(parsed['cluster-key'], `${where}: the cluster key is passed`);
    t.truthy(parsed['advertise-host'], `${where}: the advertise address is given`);
    if (where.includes('cpu-worker')) t.is(parsed.slots, 1, `${where}: one CPU slot`);
    else t.truthy(parsed.gpus, `${where}: GPU slots`);
  }
  // the two CPU workers of one machine: different addresses, so a trial's replicas are told apart
  const hosts = workers.filter((l) => l.where.includes('cpu-worker')).map((l) => l.argv[l.argv.indexOf('--advertise-host') + 1]);
  t.deepEqual(hosts, ['127.0.0.2', '127.0.0.3']);

  const heads = lines.filter((l) => l.image === 'dcign-head:latest');
  t.deepEqual(heads.map((l) => l.where).sort(), ['compose head', 'k8s dcign-head']);
  const devUp = { command: 'up', builder: (y: Any) => stackFlags(y) };
  for (const { where, argv } of heads) {
    const parsed = await parseWith(devUp, ['up', ...argv], where);
    t.is(parsed.profile, 'local', `${where}: the profile comes from the image's entrypoint, not the arguments`);
  }
  // The head image's entrypoint is `dcign dev up --profile cluster` with those arguments.
  t.regex(readFileSync(path.join(deployDir, 'head-entrypoint.sh'), 'utf8'), /dev up --profile cluster "\$@"/);
  await t.throwsAsync(parseWith(devUp, ['up', '--temporal-prot', '7233'], 'planted'), { message: /Unknown argument/ }, 'the check is able to fail');
});

test('Dockerfiles take their base as a build argument whose default is a public image; compose and Kubernetes use the same images', (t) => {
  for (const [file, tag] of [['worker.Dockerfile', 'dcign-worker:latest'], ['head.Dockerfile', 'dcign-head:latest']] as const) {
    const text = readFileSync(path.join(deployDir, file), 'utf8');
    t.regex(text, /^ARG BASE=node:20-bookworm-slim$/m, file);
    t.regex(text, /^FROM \$\{BASE\}$/m, file);
    t.is([...text.matchAll(/^FROM /gm)].length, 1, `${file}: one stage`);
    t.regex(readFileSync(path.join(projectRoot, 'scripts/build-images.sh'), 'utf8'), new RegExp(`dcign-\\$image:latest`), tag);
  }
  t.is(compose.services.head.image, 'dcign-head:latest');
  for (const w of ['worker', 'cpu-worker-1', 'cpu-worker-2']) t.is(compose.services[w].image, 'dcign-worker:latest');
  const images = Object.fromEntries(k8sContainers().map(({ name, c }) => [name, c.image as string]));
  t.is(images['dcign-head'], compose.services.head.image);
  t.is(images['dcign-worker'], compose.services.worker.image);
});

test('compose: every service on the host network; workers reach Temporal and MLflow at the head\'s ports, and MLflow admits its Host', (t) => {
  for (const [name, s] of Object.entries(compose.services as Record<string, Any>)) t.is(s.network_mode, 'host', name);
  const w = compose.services.worker;
  const head = compose.services.head;
  for (const env of [{}, { DCIGN_HEAD: '10.0.0.5' }, { DCIGN_HEAD: '10.0.0.5', DCIGN_TEMPORAL_PORT: '17233', DCIGN_MLFLOW_PORT: '15000' }] as Record<string, string>[]) {
    const temporal = interpolate(w.environment.TEMPORAL_ADDRESS, env);
    const mlflow = new URL(interpolate(w.environment.MLFLOW_TRACKING_URI, env));
    const headArgv = words(interpolate(head.command, env));
    const flag = (n: string) => headArgv[headArgv.indexOf(`--${n}`) + 1];
    // never a compose service name: those resolve only on a compose network, not on the host's
    t.is(temporal, `${flag('host')}:${flag('temporal-port')}`);
    t.is(mlflow.host, `${flag('host')}:${flag('mlflow-port')}`);
    t.is(flag('host'), env.DCIGN_HEAD ?? '127.0.0.1');
  }
  t.is(interpolate(w.environment.TEMPORAL_ADDRESS, { TEMPORAL_ADDRESS: 'temporal.prod:7233' }), 'temporal.prod:7233');
  // the cluster key: a secret, mounted where --cluster-key points
  for (const name of ['worker', 'cpu-worker-1', 'cpu-worker-2']) {
    t.deepEqual(compose.services[name].secrets, ['cluster_key'], name);
    t.true(words(compose.services[name].command).includes('/run/secrets/cluster_key'), name);
  }
  t.truthy(compose.secrets.cluster_key.file);
  t.truthy(w.deploy.resources.reservations.devices[0].capabilities.includes('gpu'));
  t.deepEqual(head.volumes, ['head-data:/data']);
  t.regex(readFileSync(path.join(projectRoot, '.dockerignore'), 'utf8'), /^deploy\/cluster\.key$/m);
  t.regex(readFileSync(path.join(projectRoot, 'scripts/build-images.sh'), 'utf8'), /--exclude=deploy\/cluster\.key/, 'the streamed build context leaves the key out too');
});

test('Kubernetes: GPU requests, advertise address from the pod IP, key Secret as a 0400 file, the head Service and hosts', (t) => {
  const worker = k8sContainers().find((x) => x.name === 'dcign-worker') as Any;
  const head = k8sContainers().find((x) => x.name === 'dcign-head') as Any;
  const args = words(worker.c.args);
  const arg = (list: string[], name: string): string | undefined => list.find((a) => flagName(a) === name)?.split('=')[1];
  t.is(worker.c.resources.limits['nvidia.com/gpu'], 1);
  t.is(worker.c.resources.requests['nvidia.com/gpu'], 1);
  t.is(arg(args, 'gpus'), '0');
  // --advertise-host=$(POD_IP), POD_IP from the downward API
  t.is(arg(args, 'advertise-host'), '$(POD_IP)');
  const podIp = (worker.c.env as Any[]).find((e) => e.name === 'POD_IP');
  t.is(podIp?.valueFrom?.fieldRef?.fieldPath, 'status.podIP');
  // the cluster key: a Secret volume, the file --cluster-key names, mode without group/other bits, no fsGroup
  const keyPath = arg(args, 'cluster-key') as string;
  const mount = (worker.c.volumeMounts as Any[]).find((m) => keyPath.startsWith(`${m.mountPath}/`));
  t.truthy(mount, `no volume mounted at ${keyPath}`);
  t.true(mount.readOnly);
  const volume = (worker.spec.volumes as Any[]).find((v) => v.name === mount.name);
  t.truthy(volume?.secret?.secretName);
  t.true((volume.secret.items as Any[]).some((i) => path.posix.join(mount.mountPath, i.path) === keyPath));
  t.is(volume.secret.defaultMode & 0o077, 0, `mode ${volume.secret.defaultMode.toString(8)} lets others read the key`);
  t.is(volume.secret.defaultMode, 0o400);
  t.is(worker.spec.securityContext?.fsGroup, undefined);
  // The head: its ports are the Service's, its data on a claim, and the names workers use admitted by MLflow.
  const hargs = words(head.c.args);
  const service = k8s.find((d) => d.kind === 'Service' && d.metadata.name === 'dcign-head');
  const set = k8s.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'dcign-head');
  t.deepEqual(service.spec.selector, set.spec.selector.matchLabels);
  t.is(arg(hargs, 'host'), '0.0.0.0');
  for (const [flag, portName] of [['temporal-port', 'temporal'], ['temporal-ui-port', 'temporal-ui'], ['mlflow-port', 'mlflow']] as const) {
    const port = Number(arg(hargs, flag));
    t.is((head.c.ports as Any[]).find((p) => p.name === portName)?.containerPort, port, flag);
    t.is((service.spec.ports as Any[]).find((p) => p.targetPort === portName)?.port, port, `Service port ${portName}`);
  }
  t.true((head.c.volumeMounts as Any[]).some((m) => m.mountPath === '/data' && set.spec.volumeClaimTemplates.some((c: Any) => c.metadata.name === m.name)), 'state on a claim');
  const env = (n: string) => (worker.c.env as Any[]).find((e) => e.name === n).value as string;
  const mlflow = new URL(env('MLFLOW_TRACKING_URI'));
  t.is(mlflow.hostname, service.metadata.name);
  t.is(Number(mlflow.port), Number(arg(hargs, 'mlflow-port')));
  t.is(env('TEMPORAL_ADDRESS'), `${service.metadata.name}:${arg(hargs, 'temporal-port')}`);
  // `dev up` adds each name with :<port> itself
  t.true((arg(hargs, 'allowed-hosts') ?? '').split(',').includes(mlflow.hostname), arg(hargs, 'allowed-hosts'));
  t.regex(readFileSync(path.join(deployDir, 'README.md'), 'utf8'), /github\.com\/temporalio\/helm-charts/);
});

const KUBECONFORM = path.join(cacheDir(), 'bin', 'kubeconform');
const OPENAPI_DIR = path.join(cacheDir(), 'kubernetes-openapi');

test('Kubernetes: the manifests pass kubeconform -strict against schemas from the Kubernetes OpenAPI document', (t) => {
  const version = existsSync(OPENAPI_DIR) ? readdirSync(OPENAPI_DIR).sort().at(-1) : undefined;
  if (!existsSync(KUBECONFORM) || version === undefined) {
    t.fail(`kubeconform or the Kubernetes OpenAPI document is missing (${KUBECONFORM}, ${OPENAPI_DIR}/<version>/swagger.json): run bash scripts/setup-kubeconform.sh (scripts/setup.sh runs it)`);
    return;
  }
  const schemas = mkdtempSync(path.join(tmpdir(), 'dcign-k8s-schemas-'));
  try {
    const kinds = [...new Set(k8s.map((d) => d.kind as string))].filter((k) => k !== 'Kustomization');
    const written = writeKubeconformSchemas(path.join(OPENAPI_DIR, version, 'swagger.json'), schemas, kinds);
    t.true(written.length >= kinds.length, `schemas for ${kinds.join(', ')}: ${written.join(', ')}`);
    const kubeconform = (files: string[]) => {
      try {
        return { code: 0, out: execFileSync(KUBECONFORM, ['-strict', '-summary', '-skip', 'Kustomization', '-schema-location', `${schemas}/{{ .ResourceKind }}{{ .KindSuffix }}.json`, ...files], { encoding: 'utf8' }) };
      } catch (err) {
        const e = err as { status?: number; stdout?: string; stderr?: string };
        return { code: e.status ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
      }
    };
    const manifests = yamlFiles(path.join(deployDir, 'k8s'));
    const ok = kubeconform(manifests);
    t.is(ok.code, 0, ok.out);
    t.regex(ok.out, new RegExp(`Valid: ${k8s.filter((d) => d.kind !== 'Kustomization').length}, Invalid: 0, Errors: 0, Skipped: \\d+`), ok.out);
    // The check is able to fail: a misspelt field (strict) and a wrongly typed one.
    const bad = path.join(schemas, 'bad.yaml');
    const worker = readFileSync(path.join(deployDir, 'k8s', 'worker.yaml'), 'utf8');
    for (const planted of [worker.replace('terminationGracePeriodSeconds:', 'terminationGracePeriodSecond:'), worker.replace('replicas: 2', 'replicas: two')]) {
      writeFileSync(bad, planted);
      const res = kubeconform([bad]);
      t.is(res.code, 1, res.out);
      t.regex(res.out, /Invalid: 1/);
    }
  } finally {
    rmSync(schemas, { recursive: true, force: true });
  }
});
