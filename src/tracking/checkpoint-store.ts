// Durable checkpoints: a trial's checkpoints stored as artifacts of its MLflow run through the tracking server's
// artifact proxy (--serve-artifacts), so a replica group restarted on any host can fetch them; no shared disk.
//
//   checkpoints/step-00000600/params.bin ...   every file of the local checkpoint directory, uploaded first
//   checkpoints/step-00000600/MANIFEST.json    {format, step, files: [{name, bytes, sha256}]}, uploaded last
//
// A stored checkpoint counts only once its manifest is there, so one whose upload was cut short (a crash, a lost
// host) is never chosen. Uploading a step again removes the old copy first, so a replaced checkpoint never looks
// complete half-way. Downloads check every file's size and SHA-256 against the manifest, into a temporary folder
// renamed into place, so a local copy is either whole and verified or absent.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { faultPoint } from '../fault/point.js';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { checkpointName, mlflowCheckpointUri } from '../contract/checkpoint.js';
import type { MlflowClient } from './client.js';
import { MlflowError } from './errors.js';

export const CHECKPOINTS_ARTIFACT_DIR = 'checkpoints';
export const MANIFEST_FILE = 'MANIFEST.json';
export const MANIFEST_FORMAT = 'dcign-durable-checkpoint/1';

export interface ManifestEntry {
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface CheckpointManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly step: number;
  readonly files: readonly ManifestEntry[];
}

export interface StoredCheckpoint {
  readonly step: number;
  /** e.g. `checkpoints/step-00000600`, relative to the run's artifact root. */
  readonly artifactPath: string;
  /** Its manifest is there: every file was uploaded. */
  readonly complete: boolean;
}

/** A stored checkpoint that cannot be used; says which, what is wrong, and what to do. */
export class DurableCheckpointError extends Error {
  constructor(
    readonly uri: string,
    problem: string,
  ) {
    super(
      `durable checkpoint ${uri}: ${problem}. The trial's MLflow run keeps its newest checkpoints under ` +
        `${CHECKPOINTS_ARTIFACT_DIR}/ (see them in the MLflow UI); resume from another one or retrain the trial.`,
    );
    this.name = 'DurableCheckpointError';
  }
}

export function checkpointArtifactPath(step: number): string {
  return `${CHECKPOINTS_ARTIFACT_DIR}/${checkpointName(step)}`;
}

function stepOf(name: string): number | undefined {
  const m = /^step-(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** A file name a manifest may list: plain, inside the checkpoint folder. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

async function digest(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Whether `dir` holds every file of the manifest, byte for byte. */
async function holds(dir: string, manifest: CheckpointManifest): Promise<boolean> {
  for (const f of manifest.files) {
    const file = path.join(dir, f.name);
    try {
      if ((await stat(file)).size !== f.bytes) return false;
    } catch {
      return false;
    }
    if ((await digest(file)).sha256 !== f.sha256) return false;
  }
  return true;
}

export class CheckpointStore {
  constructor(
    private readonly client: MlflowClient,
    readonly runId: string,
  ) {}

  uri(artifactPath: string): string {
    return mlflowCheckpointUri(this.runId, artifactPath);
  }

  /** Uploads the files of a local checkpoint directory, then its manifest; returns the artifact path. */
  async upload(localDir: string, step: number): Promise<string> {
    const entries = await readdir(localDir, { withFileTypes: true });
    const names = entries
      .filter((e) => e.isFile() && e.name !== MANIFEST_FILE && SAFE_NAME.test(e.name))
      .map((e) => e.name)
      .sort();
    if (names.length === 0) throw new Error(`checkpoint ${localDir} holds no files to upload; was it removed after it was written?`);
    const files: ManifestEntry[] = [];
    for (const name of names) files.push({ name, ...(await digest(path.join(localDir, name))) });
    const dir = checkpointArtifactPath(step);
    // A copy of this step from an earlier attempt must not look complete while its files are being replaced.
    await this.client.deleteArtifact(this.runId, dir);
    for (const name of names) await this.client.logArtifact(this.runId, path.join(localDir, name), dir);
    faultPoint('checkpoint-upload', step); // tests: a host that dies with every file stored but the manifest
    const manifest: CheckpointManifest = { format: MANIFEST_FORMAT, step, files };
    await this.client.logArtifactBytes(this.runId, `${dir}/${MANIFEST_FILE}`, `${JSON.stringify(manifest, null, 2)}\n`);
    return dir;
  }

  /** Every checkpoint folder in the run, oldest first, complete or not. */
  async list(): Promise<StoredCheckpoint[]> {
    const out: StoredCheckpoint[] = [];
    for (const e of await this.client.listArtifacts(this.runId, CHECKPOINTS_ARTIFACT_DIR)) {
      const step = stepOf(path.posix.basename(e.path));
      if (!e.isDir || step === undefined) continue;
      const files = await this.client.listArtifacts(this.runId, e.path);
      const complete = files.some((f) => !f.isDir && path.posix.basename(f.path) === MANIFEST_FILE);
      out.push({ step, artifactPath: e.path, complete });
    }
    return out.sort((a, b) => a.step - b.step);
  }

  /** The newest complete checkpoint, if any. */
  async latest(): Promise<StoredCheckpoint | undefined> {
    return (await this.list()).filter((c) => c.complete).pop();
  }

  async readManifest(artifactPath: string): Promise<CheckpointManifest> {
    const uri = this.uri(artifactPath);
    let text: string;
    try {
      text = (await this.client.readArtifact(this.runId, `${artifactPath}/${MANIFEST_FILE}`)).toString('utf8');
    } catch (err) {
      if (err instanceof MlflowError && err.status === 404) {
        throw new DurableCheckpointError(uri, `has no ${MANIFEST_FILE}: its upload never finished, or retention deleted it`);
      }
      throw err;
    }
    let m: Partial<CheckpointManifest>;
    try {
      m = JSON.parse(text) as Partial<CheckpointManifest>;
    } catch (err) {
      throw new DurableCheckpointError(uri, `${MANIFEST_FILE} is not JSON (${(err as Error).message})`);
    }
    const ok =
      m.format === MANIFEST_FORMAT &&
      Number.isInteger(m.step) &&
      Array.isArray(m.files) &&
      m.files.length > 0 &&
      m.files.every((f) => SAFE_NAME.test(String(f.name)) && Number.isInteger(f.bytes) && /^[0-9a-f]{64}$/.test(String(f.sha256)));
    if (!ok) throw new DurableCheckpointError(uri, `${MANIFEST_FILE} is not a ${MANIFEST_FORMAT} manifest`);
    return m as CheckpointManifest;
  }

  /**
   * Makes `destDir` a verified copy of the stored checkpoint: kept as it is when it already holds every file byte for
   * byte (a cache hit), else downloaded. Returns the manifest's step and whether anything was fetched.
   */
  async download(artifactPath: string, destDir: string): Promise<{ step: number; fetched: boolean }> {
    const manifest = await this.readManifest(artifactPath);
    if (await holds(destDir, manifest)) return { step: manifest.step, fetched: false };
    const tmp = path.join(path.dirname(destDir), `.fetch-${path.basename(destDir)}-${process.pid}-${randomUUID().slice(0, 8)}`);
    await mkdir(tmp, { recursive: true });
    try {
      for (const f of manifest.files) {
        const file = path.join(tmp, f.name);
        await this.client.downloadArtifact(this.runId, `${artifactPath}/${f.name}`, file);
        const got = await digest(file);
        if (got.bytes !== f.bytes || got.sha256 !== f.sha256) {
          throw new DurableCheckpointError(
            this.uri(artifactPath),
            `${f.name} arrived with ${got.bytes} bytes (sha256 ${got.sha256.slice(0, 12)}...), its manifest says ${f.bytes} bytes ` +
              `(sha256 ${f.sha256.slice(0, 12)}...): the stored copy is damaged`,
          );
        }
      }
      await writeFile(path.join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
      // Another replica on this host may have finished the same download first: keep its copy.
      if (await holds(destDir, manifest)) return { step: manifest.step, fetched: true };
      await rm(destDir, { recursive: true, force: true });
      await rename(tmp, destDir);
      return { step: manifest.step, fetched: true };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Makes `destPath` in this run a verified copy of another run's stored checkpoint (PBT's exploit), its manifest
   * written last so a copy cut short never looks complete. `rewrite` may change a file on the way (the exploiting
   * member keeps its own data stream: its seed in state.json). A whole copy already there (the same manifest) is
   * kept: returns false and writes nothing, so a retried copy does not copy again.
   */
  async copyFrom(
    source: CheckpointStore,
    sourcePath: string,
    destPath: string,
    o: { rewrite?: (name: string, bytes: Buffer) => Buffer; onFile?: () => void } = {},
  ): Promise<boolean> {
    const from = await source.readManifest(sourcePath);
    const files: { entry: ManifestEntry; bytes: Buffer }[] = [];
    for (const f of from.files) {
      const read = await source.client.readArtifact(source.runId, `${sourcePath}/${f.name}`);
      const sha = createHash('sha256').update(read).digest('hex');
      if (read.length !== f.bytes || sha !== f.sha256) {
        throw new DurableCheckpointError(source.uri(sourcePath), `${f.name} read back with ${read.length} bytes (sha256 ${sha.slice(0, 12)}...), its manifest says ${f.bytes} (sha256 ${f.sha256.slice(0, 12)}...)`);
      }
      const bytes = o.rewrite ? o.rewrite(f.name, read) : read;
      files.push({ entry: { name: f.name, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }, bytes });
      o.onFile?.();
    }
    const manifest: CheckpointManifest = { format: MANIFEST_FORMAT, step: from.step, files: files.map((f) => f.entry) };
    const there = await this.readManifest(destPath).catch(() => undefined);
    if (there && there.step === manifest.step && JSON.stringify(there.files) === JSON.stringify(manifest.files)) return false;
    await this.client.deleteArtifact(this.runId, destPath);
    for (const f of files) {
      await this.client.logArtifactBytes(this.runId, `${destPath}/${f.entry.name}`, f.bytes);
      o.onFile?.();
    }
    faultPoint('pbt-copy', manifest.step); // tests: a worker that dies with every file copied but the manifest
    await this.client.logArtifactBytes(this.runId, `${destPath}/${MANIFEST_FILE}`, `${JSON.stringify(manifest, null, 2)}\n`);
    return true;
  }

  /** Deletes a stored checkpoint: its manifest first, so it is never seen complete with files missing. */
  async remove(artifactPath: string): Promise<void> {
    await this.client.deleteArtifact(this.runId, `${artifactPath}/${MANIFEST_FILE}`);
    await this.client.deleteArtifact(this.runId, artifactPath);
  }

  /**
   * Keeps the newest `keep` complete checkpoints at or before `current` (the one just stored) and deletes every other
   * folder: older ones, unfinished uploads, and any past `current` (left by a group that died after storing them; the
   * trial resumed from an earlier step, so they belong to a run of steps that was replaced). Returns the kept steps.
   * Complete checkpoints at a `protect`ed step are kept too (early stopping's rungs: evaluated beside training).
   */
  async retain(keep: number, current: number, protect: readonly number[] = []): Promise<{ kept: number[]; removed: number[] }> {
    if (!(Number.isInteger(keep) && keep >= 1)) throw new Error(`keep must be an integer >= 1, got ${keep}`);
    const all = await this.list();
    const done = all.filter((c) => c.complete && c.step <= current);
    const newest = done.slice(-keep).map((c) => c.step);
    const kept = done.filter((c) => newest.includes(c.step) || protect.includes(c.step)).map((c) => c.step);
    const removed: number[] = [];
    for (const c of all) {
      if (kept.includes(c.step)) continue;
      await this.remove(c.artifactPath);
      removed.push(c.step);
    }
    return { kept, removed };
  }
}
