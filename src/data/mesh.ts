// Triangle meshes built in code for the inverse-graphics scenes: surfaces of revolution (spheres, ellipsoids,
// cylinders, cones, tori) and boxes, transformed and merged into objects (a face-like head, a chair, primitives).
// Every vertex carries a unit normal and an albedo; all arithmetic is IEEE-exact or uses detmath, so a mesh is the
// same bits everywhere.
import { dcos, dsin } from './detmath.js';

export interface Mesh {
  /** x, y, z per vertex. */
  readonly positions: Float64Array;
  /** Unit normal per vertex. */
  readonly normals: Float64Array;
  /** Reflectance in [0, 1] per vertex. */
  readonly albedo: Float64Array;
  /** Three vertex indices per triangle. */
  readonly triangles: Uint32Array;
}

interface MeshParts {
  positions: number[];
  normals: number[];
  albedo: number[];
  triangles: number[];
}

/**
 * Winds every triangle counter-clockwise seen from outside (its geometric normal agrees with its vertex normals), so
 * the renderer can cull back faces by the sign of the projected area.
 */
function orient(p: MeshParts): void {
  const P = p.positions;
  const N = p.normals;
  const T = p.triangles;
  for (let t = 0; t < T.length; t += 3) {
    const [a, b, c] = [T[t] as number, T[t + 1] as number, T[t + 2] as number];
    const e1 = [0, 1, 2].map((k) => (P[3 * b + k] as number) - (P[3 * a + k] as number)) as [number, number, number];
    const e2 = [0, 1, 2].map((k) => (P[3 * c + k] as number) - (P[3 * a + k] as number)) as [number, number, number];
    const g = [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]];
    let dot = 0;
    for (let k = 0; k < 3; k++) {
      dot += (g[k] as number) * ((N[3 * a + k] as number) + (N[3 * b + k] as number) + (N[3 * c + k] as number));
    }
    if (dot < 0) {
      T[t + 1] = c;
      T[t + 2] = b;
    }
  }
}

function freeze(p: MeshParts): Mesh {
  orient(p);
  return {
    positions: Float64Array.from(p.positions),
    normals: Float64Array.from(p.normals),
    albedo: Float64Array.from(p.albedo),
    triangles: Uint32Array.from(p.triangles),
  };
}

function normalise(x: number, y: number, z: number): [number, number, number] {
  const len = Math.sqrt(x * x + y * y + z * z);
  return len === 0 ? [0, 0, 0] : [x / len, y / len, z / len];
}

/**
 * Revolves a profile of (radius, height) points about the y axis. Normals are smooth along the profile (the average of
 * the two neighbouring segments' normals), so separate profiles make sharp edges (a cylinder's rim).
 */
export function revolve(profile: readonly (readonly [number, number])[], slices: number, albedo = 1): Mesh {
  const parts: MeshParts = { positions: [], normals: [], albedo: [], triangles: [] };
  const m = profile.length;
  const segNormals: [number, number][] = [];
  for (let i = 0; i + 1 < m; i++) {
    const [r0, y0] = profile[i] as readonly [number, number];
    const [r1, y1] = profile[i + 1] as readonly [number, number];
    const dr = r1 - r0;
    const dy = y1 - y0;
    const len = Math.sqrt(dr * dr + dy * dy);
    segNormals.push([dy / len, -dr / len]);
  }
  for (let j = 0; j <= slices; j++) {
    const theta = (2 * Math.PI * (j % slices)) / slices;
    const c = dcos(theta);
    const s = dsin(theta);
    for (let i = 0; i < m; i++) {
      const [r, y] = profile[i] as readonly [number, number];
      const a = segNormals[Math.max(0, i - 1)] as [number, number];
      const b = segNormals[Math.min(m - 2, i)] as [number, number];
      const [nr, ny] = [a[0] + b[0], a[1] + b[1]];
      const [nx, nyy, nz] = normalise(nr * c, ny, nr * s);
      parts.positions.push(r * c, y, r * s);
      parts.normals.push(nx, nyy, nz);
      parts.albedo.push(albedo);
    }
  }
  for (let j = 0; j < slices; j++) {
    for (let i = 0; i + 1 < m; i++) {
      const a = j * m + i;
      const b = (j + 1) * m + i;
      parts.triangles.push(a, b, a + 1, a + 1, b, b + 1);
    }
  }
  return freeze(parts);
}

/** Unit sphere (scale it for ellipsoids). */
export function sphere(stacks = 12, slices = 16, albedo = 1): Mesh {
  const profile: [number, number][] = [];
  for (let i = 0; i <= stacks; i++) {
    const phi = -Math.PI / 2 + (Math.PI * i) / stacks;
    profile.push([Math.max(0, dcos(phi)), dsin(phi)]);
  }
  return revolve(profile, slices, albedo);
}

/** Closed cylinder of radius 1 from y = -1 to y = 1 with flat caps. */
export function cylinder(slices = 20, albedo = 1): Mesh {
  return merge([
    revolve([[0, -1], [1, -1]], slices, albedo),
    revolve([[1, -1], [1, 0], [1, 1]], slices, albedo),
    revolve([[1, 1], [0, 1]], slices, albedo),
  ]);
}

/** Cone of base radius 1 at y = 0 and apex at y = 1, with a flat base. */
export function cone(slices = 16, albedo = 1): Mesh {
  return merge([revolve([[0, 0], [1, 0]], slices, albedo), revolve([[1, 0], [0, 1]], slices, albedo)]);
}

/** Capsule about the y axis: a cylinder of radius 1 from y = -1 to y = 1 capped by half spheres. */
export function capsule(stacks = 6, slices = 20, albedo = 1): Mesh {
  const profile: [number, number][] = [];
  for (let i = 0; i <= stacks; i++) {
    const phi = -Math.PI / 2 + (Math.PI / 2) * (i / stacks);
    profile.push([Math.max(0, dcos(phi)), dsin(phi) - 1]);
  }
  for (let i = 0; i <= stacks; i++) {
    const phi = (Math.PI / 2) * (i / stacks);
    profile.push([Math.max(0, dcos(phi)), dsin(phi) + 1]);
  }
  return revolve(profile, slices, albedo);
}

/** Torus about the y axis: ring radius R, tube radius r. */
export function torus(ringRadius: number, tubeRadius: number, rings = 24, sides = 12, albedo = 1): Mesh {
  const profile: [number, number][] = [];
  for (let i = 0; i <= sides; i++) {
    const phi = -Math.PI + (2 * Math.PI * (i % sides)) / sides;
    profile.push([ringRadius + tubeRadius * dcos(phi), tubeRadius * dsin(phi)]);
  }
  // A closed profile: the first and last points coincide, so the smooth-normal averaging is exact except at the seam,
  // where each side sees only one segment; with 12 sides that is invisible at 64 pixels.
  return revolve(profile, rings, albedo);
}

/** Axis-aligned box with centre c and half-extents h, flat-shaded; albedo per face (-x, +x, -y, +y, -z, +z) or one. */
export function box(
  c: readonly [number, number, number],
  h: readonly [number, number, number],
  albedo: number | readonly number[] = 1,
): Mesh {
  const parts: MeshParts = { positions: [], normals: [], albedo: [], triangles: [] };
  const [cx, cy, cz] = c;
  const [hx, hy, hz] = h;
  // Each face: normal axis, sign; the four corners span the other two axes.
  for (let axis = 0; axis < 3; axis++) {
    for (const sign of [-1, 1]) {
      const u = (axis + 1) % 3;
      const v = (axis + 2) % 3;
      const base = parts.positions.length / 3;
      for (const [su, sv] of [
        [-1, -1],
        [1, -1],
        [1, 1],
        [-1, 1],
      ] as const) {
        const p = [0, 0, 0];
        p[axis] = sign;
        p[u] = su;
        p[v] = sv;
        parts.positions.push(cx + hx * (p[0] as number), cy + hy * (p[1] as number), cz + hz * (p[2] as number));
        const n = [0, 0, 0];
        n[axis] = sign;
        parts.normals.push(...n);
        parts.albedo.push(typeof albedo === 'number' ? albedo : (albedo[2 * axis + (sign > 0 ? 1 : 0)] ?? 1));
      }
      parts.triangles.push(base, base + 1, base + 2, base, base + 2, base + 3);
    }
  }
  return freeze(parts);
}

export interface Transform {
  readonly scale?: readonly [number, number, number];
  /** Rotation about the x axis, radians, applied after scaling. */
  readonly rotateX?: number;
  /** Rotation about the z axis, radians, applied after rotateX. */
  readonly rotateZ?: number;
  /** Rotation about the vertical (y) axis, radians, applied after rotateZ. */
  readonly rotateY?: number;
  readonly translate?: readonly [number, number, number];
}

/** Scales, rotates and translates a mesh; normals follow the inverse transpose, so ellipsoids shade correctly. */
export function transform(mesh: Mesh, t: Transform): Mesh {
  const [sx, sy, sz] = t.scale ?? [1, 1, 1];
  const [tx, ty, tz] = t.translate ?? [0, 0, 0];
  const cx = dcos(t.rotateX ?? 0);
  const snx = dsin(t.rotateX ?? 0);
  const cz = dcos(t.rotateZ ?? 0);
  const snz = dsin(t.rotateZ ?? 0);
  const turn = t.rotateY !== undefined;
  const cy = dcos(t.rotateY ?? 0);
  const sny = dsin(t.rotateY ?? 0);
  const rot = (x: number, y: number, z: number): [number, number, number] => {
    const y1 = cx * y - snx * z;
    const z1 = snx * y + cx * z;
    const x2 = cz * x - snz * y1;
    const y2 = snz * x + cz * y1;
    // Only when asked, so meshes built without it keep their exact bits.
    return turn ? [cy * x2 + sny * z1, y2, cy * z1 - sny * x2] : [x2, y2, z1];
  };
  const n = mesh.positions.length / 3;
  const positions = new Float64Array(n * 3);
  const normals = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    const [x, y, z] = rot(
      (mesh.positions[3 * i] as number) * sx,
      (mesh.positions[3 * i + 1] as number) * sy,
      (mesh.positions[3 * i + 2] as number) * sz,
    );
    positions.set([x + tx, y + ty, z + tz], 3 * i);
    const [nx, ny, nz] = normalise(
      (mesh.normals[3 * i] as number) / sx,
      (mesh.normals[3 * i + 1] as number) / sy,
      (mesh.normals[3 * i + 2] as number) / sz,
    );
    normals.set(rot(nx, ny, nz), 3 * i);
  }
  return { positions, normals, albedo: mesh.albedo, triangles: mesh.triangles };
}

export function merge(meshes: readonly Mesh[]): Mesh {
  const parts: MeshParts = { positions: [], normals: [], albedo: [], triangles: [] };
  for (const m of meshes) {
    const base = parts.positions.length / 3;
    parts.positions.push(...m.positions);
    parts.normals.push(...m.normals);
    parts.albedo.push(...m.albedo);
    for (const idx of m.triangles) parts.triangles.push(base + idx);
  }
  return freeze(parts);
}

/** A face-like head looking along +z: skull, nose, ears, dark eyes and mouth, neck. */
export function head(): Mesh {
  return merge([
    transform(sphere(16, 24, 0.9), { scale: [0.55, 0.7, 0.6], translate: [0, 0.1, 0] }),
    transform(cone(12, 0.9), { scale: [0.11, 0.26, 0.11], rotateX: Math.PI / 2, translate: [0, 0.02, 0.5] }),
    transform(sphere(8, 12, 0.85), { scale: [0.07, 0.17, 0.12], translate: [-0.54, 0.1, -0.02] }),
    transform(sphere(8, 12, 0.85), { scale: [0.07, 0.17, 0.12], translate: [0.54, 0.1, -0.02] }),
    transform(sphere(8, 12, 0.15), { scale: [0.09, 0.06, 0.05], translate: [-0.2, 0.28, 0.5] }),
    transform(sphere(8, 12, 0.15), { scale: [0.09, 0.06, 0.05], translate: [0.2, 0.28, 0.5] }),
    transform(sphere(6, 12, 0.25), { scale: [0.16, 0.035, 0.05], translate: [0, -0.26, 0.51] }),
    transform(cylinder(16, 0.8), { scale: [0.24, 0.25, 0.24], translate: [0, -0.75, -0.05] }),
  ]);
}

/** A chair facing +z: seat, backrest, four legs. */
export function chair(): Mesh {
  const legs = [-1, 1].flatMap((sx) =>
    [-1, 1].map((sz) => box([0.38 * sx, -0.5, 0.38 * sz], [0.05, 0.38, 0.05], 0.85)),
  );
  return merge([
    box([0, -0.08, 0], [0.45, 0.05, 0.45], 0.9),
    box([0, 0.42, -0.4], [0.45, 0.45, 0.05], 0.9),
    ...legs,
  ]);
}

/** A cube whose faces differ in reflectance, so that its pose is visible despite its symmetry. */
export function cubeMesh(): Mesh {
  return box([0, 0, 0], [0.5, 0.5, 0.5], [0.75, 0.5, 0.9, 0.9, 0.62, 0.9]);
}

/** Replaces each vertex's albedo by a function of its position. */
function paint(mesh: Mesh, albedoAt: (x: number, y: number, z: number) => number): Mesh {
  const albedo = new Float64Array(mesh.albedo.length);
  for (let i = 0; i < albedo.length; i++) {
    const p = mesh.positions;
    albedo[i] = albedoAt(p[3 * i] as number, p[3 * i + 1] as number, p[3 * i + 2] as number);
  }
  return { ...mesh, albedo };
}

/** A ball painted in alternating light and dark quarters (like a beach ball), so that turning it shows. */
export function sphereMesh(): Mesh {
  const ball = transform(sphere(16, 24, 0.9), { scale: [0.7, 0.7, 0.7] });
  return paint(ball, (x, _y, z) => ((x + 0.15 * z) * (z - 0.15 * x) > 0 ? 0.92 : 0.42));
}

/** A cylinder with a dark vertical stripe on one side, so that turning it shows. */
export function cylinderMesh(): Mesh {
  const can = transform(cylinder(24, 0.9), { scale: [0.45, 0.6, 0.45] });
  return paint(can, (x, y, z) => (z > 0.4 && Math.abs(y) < 0.59 && Math.abs(x) < 0.2 ? 0.3 : 0.9));
}

/** A torus tilted off the vertical axis so that turning it changes its outline. */
export function torusMesh(): Mesh {
  return transform(torus(0.5, 0.2, 28, 12, 0.9), { rotateX: 1.1, rotateZ: 0.3 });
}
