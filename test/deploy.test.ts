// deploy/ checked offline (no Docker or Kubernetes here): every YAML parses; every dcign flag in it is one the CLI
// defines (and the whole worker command line passes the CLI's own checks); mlflow and temporal flags exist in the
// pinned versions (when installed); images, ports, hosts, the cluster key mount and the GPU requests agree.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

import yargs from 'yargs';
import { parseAllDocuments } from 'yaml';

import { workerCommand } from '../src/cli/commands/worker.js';
import { projectRoot } from '../src/stack/paths.js';

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
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
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
/** Every process command line in deploy/: compose services and Kubernetes containers. */
const commandLines = (env: Record<string, string> = {}): { where: string; argv: string[] }[] => [
  ...Object.entries(compose.services as Record<string, Any>).map(([name, s]) => ({ where: `compose ${name}`, argv: words(typeof s.command === 'string' ? interpolate(s.command, env) : s.command) })),
  ...k8sContainers().map(({ name, c }) => ({ where: `k8s ${name}`, argv: [...words(c.command), ...words(c.args)] })),
];

function dcignWorkerOptions(): Set<string> {
  const y = (workerCommand.builder as (y: Any) => Any)(yargs([]));
  return new Set(Object.keys(y.getOptions().key as Record<string, unknown>));
}

/** The flags a binary's --help lists; a missing binary fails the test naming the set-up step that installs it. */
function helpFlags(bin: string, args: string[], setupStep: string): Set<string> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing, so deploy/'s flags for it cannot be checked: run ${setupStep} (scripts/setup.sh runs it)`);
  const help = execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return new Set([...help.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1] as string));
}

const pinned = (script: string, variable: string): string => {
  const m = new RegExp(`^${variable}=v?([\\w.]+)`, 'm').exec(readFileSync(path.join(projectRoot, 'scripts', script), 'utf8'));
  if (!m) throw new Error(`no ${variable} in scripts/${script}`);
  return m[1] as string;
};

test('every YAML file under deploy/ parses', (t) => {
  const files = yamlFiles(deployDir);
  t.true(files.length >= 4, files.join(', '));
  for (const f of files) t.notThrows(() => load(f), f);
  t.deepEqual(Object.keys(compose.services).sort(), ['mlflow', 'temporal', 'worker']);
  const kinds = k8s.map((d) => `${d.kind}/${d.metadata?.name ?? ''}`).sort();
  for (const k of ['Deployment/dcign-worker', 'Deployment/mlflow', 'Service/mlflow', 'PersistentVolumeClaim/mlflow-data', 'Namespace/dcign']) t.true(kinds.includes(k), kinds.join(', '));
});

test('every dcign flag in deploy/ is a `dcign worker` option, and each command line passes the CLI\'s checks', async (t) => {
  const options = dcignWorkerOptions();
  const lines = commandLines().filter((l) => l.argv.includes('dist/src/cli/main.js'));
  t.is(lines.length, 2, lines.map((l) => l.where).join(', '));
  for (const { where, argv } of lines) {
    const args = argv.slice(argv.indexOf('dist/src/cli/main.js') + 1);
    t.is(args[0], 'worker', where);
    for (const w of args.filter((a) => a.startsWith('--'))) {
      const name = flagName(w);
      t.true(options.has(name) || (name.startsWith('no-') && options.has(name.slice(3))), `${where}: --${name} is not a dcign worker option`);
    }
    const parsed = await yargs(args.map((a) => a.replace(/^<(\w+)>$/, '10.0.0.7')))
      .command({ ...workerCommand, handler: () => undefined } as never)
      .strict()
      .fail((msg, err) => {
        throw err ?? new Error(`${where}: ${msg}`);
      })
      .parseAsync();
    t.truthy(parsed['cluster-key'], `${where}: the cluster key is passed`);
    t.truthy(parsed['advertise-host'], `${where}: the advertise address is given`);
    t.truthy(parsed.gpus, `${where}: GPU slots`);
  }
});

test('mlflow and temporal flags in deploy/ exist in the pinned versions', (t) => {
  const mlflow = helpFlags(path.join(homedir(), '.cache/dcign/mlflow-venv/bin/mlflow'), ['server', '--help'], 'scripts/setup-mlflow.sh');
  const temporal = helpFlags(process.env.TEMPORAL_BIN ?? path.join(homedir(), '.cache/dcign/bin/temporal'), ['server', 'start-dev', '--help'], 'scripts/setup-temporal.sh');
  let checked = 0;
  for (const { where, argv } of commandLines()) {
    const i = argv.findIndex((w, j) => (w === 'mlflow' || w === 'server') && argv[j + 1] !== undefined);
    const isMlflow = argv[0] === 'mlflow';
    const isTemporal = argv[0] === 'server' && argv[1] === 'start-dev';
    if (!isMlflow && !isTemporal) continue;
    const known = isMlflow ? mlflow : temporal;
    t.true(i >= 0);
    if (isMlflow) t.true(argv.includes('--serve-artifacts') && argv.some((w) => flagName(w) === 'allowed-hosts'), `${where}: --serve-artifacts and --allowed-hosts`);
    for (const w of argv.filter((a) => a.startsWith('--'))) t.true(known.has(flagName(w)), `${where}: ${w} is not a flag of the pinned ${isMlflow ? 'mlflow server' : 'temporal server start-dev'}`);
    checked += 1;
  }
  // compose's mlflow and temporal, Kubernetes' mlflow (there Temporal is the lab's own cluster): all three checked
  t.is(checked, 3, `command lines checked against installed binaries: ${checked}`);
});

test('images and versions agree with the pinned ones, between compose and Kubernetes', (t) => {
  const mlflowVersion = pinned('setup-mlflow.sh', 'MLFLOW_VERSION');
  const temporalVersion = pinned('setup-temporal.sh', 'TEMPORAL_CLI_VERSION');
  t.is(compose.services.mlflow.image, `ghcr.io/mlflow/mlflow:v${mlflowVersion}`);
  t.is(compose.services.temporal.image, `temporalio/temporal:${temporalVersion}`);
  const images = Object.fromEntries(k8sContainers().map(({ name, c }) => [name, c.image as string]));
  t.is(images.mlflow, compose.services.mlflow.image);
  t.is(images['dcign-worker'], compose.services.worker.image);
  t.is(compose.services.worker.build.dockerfile, 'deploy/worker.Dockerfile');
  t.true(existsSync(path.join(projectRoot, compose.services.worker.build.dockerfile)));
  t.regex(readFileSync(path.join(projectRoot, 'deploy/worker.Dockerfile'), 'utf8'), /-t dcign-worker:latest/);
});

test('compose: the host-networked worker reaches Temporal and MLflow at published ports, and MLflow admits its Host', (t) => {
  const w = compose.services.worker;
  t.is(w.network_mode, 'host');
  t.deepEqual(compose.services.temporal.ports, ['7233:7233', '8233:8233']);
  t.deepEqual(compose.services.mlflow.ports, ['5000:5000']);
  for (const env of [{}, { DCIGN_HEAD: '10.0.0.5' }] as Record<string, string>[]) {
    const temporal = interpolate(w.environment.TEMPORAL_ADDRESS, env);
    const mlflow = new URL(interpolate(w.environment.MLFLOW_TRACKING_URI, env));
    const head = env.DCIGN_HEAD ?? '127.0.0.1';
    // never a compose service name: those resolve only on the compose network, not on the host's
    t.is(temporal, `${head}:7233`);
    t.is(mlflow.host, `${head}:5000`);
    const mlflowArgv = words(interpolate(compose.services.mlflow.command, env));
    const allowed = (mlflowArgv[mlflowArgv.indexOf('--allowed-hosts') + 1] ?? '').split(',');
    t.true(allowed.includes(mlflow.hostname) && allowed.includes(mlflow.host), `MLflow --allowed-hosts ${allowed.join(',')} lacks ${mlflow.host}`);
  }
  t.is(interpolate(w.environment.TEMPORAL_ADDRESS, { TEMPORAL_ADDRESS: 'temporal.prod:7233' }), 'temporal.prod:7233');
  // the cluster key: a secret, mounted where --cluster-key points
  t.deepEqual(w.secrets, ['cluster_key']);
  t.truthy(compose.secrets.cluster_key.file);
  t.true(words(w.command).includes('/run/secrets/cluster_key'));
  t.truthy(w.deploy.resources.reservations.devices[0].capabilities.includes('gpu'));
  t.regex(readFileSync(path.join(projectRoot, '.dockerignore'), 'utf8'), /^deploy\/cluster\.key$/m);
});

test('Kubernetes: GPU requests, advertise address from the pod IP, key Secret as a 0400 file, MLflow Service and hosts', (t) => {
  const worker = k8sContainers().find((x) => x.name === 'dcign-worker') as Any;
  const mlflow = k8sContainers().find((x) => x.name === 'mlflow') as Any;
  const args = words(worker.c.args);
  const arg = (name: string): string | undefined => args.find((a) => flagName(a) === name)?.split('=')[1];
  t.is(worker.c.resources.limits['nvidia.com/gpu'], 1);
  t.is(worker.c.resources.requests['nvidia.com/gpu'], 1);
  t.is(arg('gpus'), '0');
  // --advertise-host=$(POD_IP), POD_IP from the downward API
  t.is(arg('advertise-host'), '$(POD_IP)');
  const podIp = (worker.c.env as Any[]).find((e) => e.name === 'POD_IP');
  t.is(podIp?.valueFrom?.fieldRef?.fieldPath, 'status.podIP');
  // the cluster key: a Secret volume, the file --cluster-key names, mode without group/other bits, no fsGroup
  const keyPath = arg('cluster-key') as string;
  const mount = (worker.c.volumeMounts as Any[]).find((m) => keyPath.startsWith(`${m.mountPath}/`));
  t.truthy(mount, `no volume mounted at ${keyPath}`);
  t.true(mount.readOnly);
  const volume = (worker.spec.volumes as Any[]).find((v) => v.name === mount.name);
  t.truthy(volume?.secret?.secretName);
  t.true((volume.secret.items as Any[]).some((i) => path.posix.join(mount.mountPath, i.path) === keyPath));
  t.is(volume.secret.defaultMode & 0o077, 0, `mode ${volume.secret.defaultMode.toString(8)} lets others read the key`);
  t.is(volume.secret.defaultMode, 0o400);
  t.is(worker.spec.securityContext?.fsGroup, undefined);
  // MLflow: --serve-artifacts, artifacts on the PVC, the Service port, and the host workers use allowed
  const margs = words(mlflow.c.args);
  t.true(margs.includes('--serve-artifacts'));
  const port = Number(margs.find((a) => flagName(a) === 'port')?.split('=')[1]);
  t.is(mlflow.c.ports[0].containerPort, port);
  const service = k8s.find((d) => d.kind === 'Service' && d.metadata.name === 'mlflow');
  t.is(service.spec.ports[0].port, port);
  t.is(service.spec.ports[0].targetPort, mlflow.c.ports[0].name);
  t.deepEqual(service.spec.selector, mlflow.spec.containers ? k8s.find((d) => d.kind === 'Deployment' && d.metadata.name === 'mlflow').spec.selector.matchLabels : undefined);
  const dest = margs.find((a) => flagName(a) === 'artifacts-destination')?.split('=')[1] as string;
  const dataMount = (mlflow.c.volumeMounts as Any[]).find((m) => dest.startsWith(m.mountPath));
  const pvc = (mlflow.spec.volumes as Any[]).find((v) => v.name === dataMount?.name)?.persistentVolumeClaim?.claimName;
  t.truthy(k8s.find((d) => d.kind === 'PersistentVolumeClaim' && d.metadata.name === pvc), 'artifacts on a PVC');
  const uri = new URL((worker.c.env as Any[]).find((e) => e.name === 'MLFLOW_TRACKING_URI').value);
  t.is(uri.hostname, service.metadata.name);
  t.is(Number(uri.port), port);
  const allowed = (margs.find((a) => flagName(a) === 'allowed-hosts')?.split('=')[1] ?? '').split(',');
  t.true(allowed.includes(uri.hostname) && allowed.includes(uri.host), allowed.join(','));
  t.regex(readFileSync(path.join(deployDir, 'README.md'), 'utf8'), /github\.com\/temporalio\/helm-charts/);
});
