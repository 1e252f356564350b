// A parametric head for the faces dataset: a skull and a jaw (ellipsoids), nose, eyes (white and iris), brows, mouth,
// ears, hair and neck, looking along +z. An identity is a handful of shape parameters (proportions of the head,
// nose, eyes, mouth and ears, skin and hair shade), in the spirit of the morphable face models behind the DCIGN
// faces (Kulkarni et al. 2015, rendered from the Basel Face Model; Paysan et al. 2009), but built from primitives.
// Only IEEE-exact operations and detmath trigonometry (inside mesh.ts) are used, so a face is the same bits everywhere.
import { mixSeed, Rng } from '../random.js';
import { cone, cylinder, merge, sphere, transform, type Mesh } from './mesh.js';

export interface FaceShape {
  /** Half-extents of the skull ellipsoid. */
  readonly headWidth: number;
  readonly headHeight: number;
  readonly headDepth: number;
  /** Half-width of the jaw and how far the chin drops below the skull. */
  readonly jawWidth: number;
  readonly chinDrop: number;
  readonly noseLength: number;
  readonly noseWidth: number;
  /** Horizontal distance of each eye from the midline, and eye size. */
  readonly eyeSpacing: number;
  readonly eyeSize: number;
  readonly mouthWidth: number;
  readonly earSize: number;
  /** Albedo of skin and hair. */
  readonly skin: number;
  readonly hair: number;
  /** Height of the hairline above the eyes, in units of the skull's half-height. */
  readonly hairline: number;
}

/** Each parameter's range; identities are drawn uniformly inside it. */
const RANGES: Readonly<Record<keyof FaceShape, readonly [number, number]>> = {
  headWidth: [0.46, 0.6],
  headHeight: [0.62, 0.76],
  headDepth: [0.55, 0.66],
  jawWidth: [0.3, 0.48],
  chinDrop: [0.0, 0.14],
  noseLength: [0.14, 0.32],
  noseWidth: [0.07, 0.14],
  eyeSpacing: [0.15, 0.24],
  eyeSize: [0.055, 0.085],
  mouthWidth: [0.1, 0.19],
  earSize: [0.11, 0.2],
  skin: [0.62, 0.95],
  hair: [0.08, 0.6],
  hairline: [0.3, 0.65],
};

const FACE_SALT = 0xface;

/** The shape of identity `id`: a fixed function of the id (uniform draws from a seeded generator). */
export function faceShape(id: number): FaceShape {
  if (!Number.isInteger(id) || id < 0) throw new RangeError(`face identity must be a non-negative integer, got ${id}`);
  const rng = new Rng(mixSeed(FACE_SALT, id));
  const entries = Object.entries(RANGES).map(([k, [lo, hi]]) => [k, lo + (hi - lo) * rng.float()] as const);
  return Object.fromEntries(entries) as unknown as FaceShape;
}

/** Height of the skull's centre: the face sits a little above the origin so the neck fits in the frame. */
const SKULL_Y = 0.12;
const EYE_Y = 0.2;
const MOUTH_Y = -0.24;

/** The head enlarged so that the face fills most of the frame (the neck runs out at the bottom, as in a bust). */
const ZOOM = 1.3;

export function faceMesh(s: FaceShape): Mesh {
  return transform(faceParts(s), { scale: [ZOOM, ZOOM, ZOOM], translate: [0, -0.12, 0] });
}

function faceParts(s: FaceShape): Mesh {
  const w = s.headWidth;
  const h = s.headHeight;
  const d = s.headDepth;
  // Depth of the skull's surface at (x, y): features sit on it.
  const surface = (x: number, y: number): number => {
    const u = 1 - (x / w) * (x / w) - ((y - SKULL_Y) / h) * ((y - SKULL_Y) / h);
    return d * Math.sqrt(u > 0 ? u : 0);
  };
  const jawY = -0.16 - s.chinDrop;
  const jawH = 0.3;
  const jawD = 0.8 * d;
  const jawSurface = (x: number, y: number): number => {
    const u = 1 - (x / s.jawWidth) * (x / s.jawWidth) - ((y - jawY) / jawH) * ((y - jawY) / jawH);
    return jawD * Math.sqrt(u > 0 ? u : 0) + 0.05;
  };
  const hairFrom = EYE_Y + s.hairline * h;
  const skull = transform(sphere(16, 24, s.skin), { scale: [w, h, d], translate: [0, SKULL_Y, 0] });
  // Hair: the skull's vertices above a hairline that rises towards the face and falls at the back.
  const albedo = Float64Array.from(skull.albedo);
  for (let i = 0; i < albedo.length; i++) {
    const y = skull.positions[3 * i + 1] as number;
    const z = skull.positions[3 * i + 2] as number;
    if (y > hairFrom - 0.35 * (z < 0 ? -z / d : 0)) albedo[i] = s.hair;
  }
  const eyes = [-1, 1].flatMap((side) => {
    const x = side * s.eyeSpacing;
    const z = surface(x, EYE_Y) - 0.02;
    return [
      transform(sphere(8, 12, 0.95), { scale: [s.eyeSize, 0.6 * s.eyeSize, 0.5 * s.eyeSize], translate: [x, EYE_Y, z] }),
      transform(sphere(6, 10, 0.08), {
        scale: [0.45 * s.eyeSize, 0.45 * s.eyeSize, 0.3 * s.eyeSize],
        translate: [x, EYE_Y, z + 0.4 * s.eyeSize],
      }),
      transform(sphere(6, 10, s.hair), {
        scale: [1.3 * s.eyeSize, 0.018, 0.03],
        translate: [x, EYE_Y + 0.09, surface(x, EYE_Y + 0.09) - 0.005],
      }),
    ];
  });
  const ears = [-1, 1].map((side) =>
    transform(sphere(8, 12, 0.9 * s.skin), {
      scale: [0.06, s.earSize, 0.1],
      translate: [side * 0.97 * w, EYE_Y - 0.05, -0.04],
    }),
  );
  const noseZ = Math.max(surface(0, 0.02), jawSurface(0, 0.02)) - 0.06;
  return merge([
    { ...skull, albedo },
    transform(sphere(10, 16, s.skin), { scale: [s.jawWidth, jawH, jawD], translate: [0, jawY, 0.05] }),
    transform(cone(12, s.skin), {
      scale: [s.noseWidth, s.noseLength, 1.1 * s.noseWidth],
      rotateX: Math.PI / 2,
      translate: [0, 0.02, noseZ],
    }),
    ...eyes,
    transform(sphere(6, 12, 0.2), {
      scale: [s.mouthWidth, 0.03, 0.04],
      translate: [0, MOUTH_Y, Math.max(surface(0, MOUTH_Y), jawSurface(0, MOUTH_Y)) - 0.01],
    }),
    ...ears,
    transform(cylinder(16, 0.85 * s.skin), { scale: [0.4 * w, 0.3, 0.22], translate: [0, -0.72, -0.05] }),
  ]);
}
