// Public entry of the data package: datasets by name and samplers over them.
//
//   dsprites        the dSprites equivalent, 737,280 combinations, 64x64 (opts.imageSize: 32 renders at 32x32)
//   dsprites-small  a 4,608-combination grid at 32x32 for tests and smoke runs
//   scenes          rendered 3D objects (identity, azimuth, elevation, light), 6 x 24 x 6 x 9 = 7,776, 64x64 grey
//   faces           procedural faces (identity, azimuth, elevation, light), 10 x 15 x 7 x 9 = 9,450, 64x64 grey
//   shapes3d        RGB object on a floor before a wall, 3D Shapes' six factors, 480,000, 64x64x3
//   npz:<path>      a user's .npz: dSprites' layout (imgs, latents_classes, latents_values), an incomplete grid of
//                   labelled images, or images only (unlabelled); see npz.ts
//   images:<folder> a folder of PNG/JPEG images, unlabelled, resized to imageSize (default 64) and cached once
import { existsSync } from 'node:fs';
import { createDsprites, createDspritesSmall } from './dsprites.js';
import { openImageFolder, imageFiles } from './image-folder.js';
import type { NpzOptions } from './npz-archive.js';
import { openNpz } from './npz.js';
import { createFaces } from './faces.js';
import { createScenes } from './scenes.js';
import { createShapes3d } from './shapes3d.js';
import type { FactorDataset } from './types.js';

export type { Batch, FactorDataset, FactorSpec, ImageList, Sampler, SamplerPosition } from './types.js';
export { ImageListDataset, renderAt } from './image-list.js';
export { createSampler } from './sampler.js';
export { NpzDataset } from './npz.js';
export { NpzFormatError, type NpzOptions } from './npz-archive.js';
export type { SamplerKind, SamplerOptions } from './sampler.js';

export interface OpenDatasetOptions extends NpzOptions {
  /** Image side for the generated datasets (dsprites: 64 by default, 32 renders at half resolution). */
  readonly imageSize?: number;
  /** Rendered images kept in the dataset's LRU cache. */
  readonly cacheSize?: number;
}

type Opener = (opts: OpenDatasetOptions) => FactorDataset;

const GENERATED: Readonly<Record<string, Opener>> = {
  dsprites: (opts) => createDsprites(opts),
  'dsprites-small': (opts) => createDspritesSmall(opts),
  scenes: (opts) => createScenes(opts),
  faces: (opts) => createFaces(opts),
  shapes3d: (opts) => createShapes3d(opts),
};

/** Names accepted by openDataset, for help texts and errors. */
export const DATASET_NAMES: readonly string[] = [...Object.keys(GENERATED), 'npz:<path>', 'images:<folder>'];

/**
 * The file an `npz:` dataset names, or undefined for a generated dataset. Throws for a name of neither form. Reads
 * nothing: a sweep's `npz:` file lives on the worker hosts, so the machine that plans the sweep checks only the form.
 */
export function datasetFile(name: string): string | undefined {
  if (name.startsWith('npz:')) {
    const path = name.slice('npz:'.length);
    if (path.length === 0) throw new Error(`dataset 'npz:' needs a path, e.g. npz:/data/dsprites.npz`);
    return path;
  }
  if (name.startsWith('images:')) {
    imagesFolder(name); // form only: like an npz file, the folder lives on the hosts that train
    return undefined;
  }
  if (!Object.hasOwn(GENERATED, name)) throw new Error(`unknown dataset '${name}'; known: ${DATASET_NAMES.join(', ')}`);
  return undefined;
}

/** Throws, as openDataset would, for a name it cannot open, without rendering or reading anything. */
export function checkDatasetName(name: string): void {
  const path = datasetFile(name);
  if (path !== undefined && !existsSync(path)) throw new Error(`dataset file ${path} (from '${name}') does not exist; give the path of a dSprites .npz`);
  if (name.startsWith('images:')) imageFiles(imagesFolder(name)); // throws naming the folder when it has no images
}

export function openDataset(name: string, opts: OpenDatasetOptions = {}): FactorDataset {
  if (name.startsWith('npz:')) {
    const path = name.slice('npz:'.length);
    if (path.length === 0) throw new Error(`dataset 'npz:' needs a path, e.g. npz:/data/dsprites.npz`);
    return openNpz(path, opts);
  }
  if (name.startsWith('images:')) {
    return openImageFolder(imagesFolder(name), { imageSize: opts.imageSize, cacheDir: opts.cacheDir });
  }
  const open = Object.hasOwn(GENERATED, name) ? GENERATED[name] : undefined;
  if (open !== undefined) return open(opts);
  throw new Error(`unknown dataset '${name}'; known: ${DATASET_NAMES.join(', ')}`);
}

function imagesFolder(name: string): string {
  const folder = name.slice('images:'.length);
  if (folder.length === 0) throw new Error(`dataset 'images:' needs a folder, e.g. images:/data/faces`);
  return folder;
}
