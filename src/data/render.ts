// The software renderer behind the rendered datasets (scenes, faces, shapes3d): a perspective camera at distance
// CAMERA_DISTANCE projects the triangles, a z-buffer (1/depth, interpolated in screen space, which is exact for planar
// triangles) keeps the nearest surface, and Lambert shading with a directional light fixed to the camera lights it
// (intensities computed per vertex and interpolated: Gouraud). The object turns by azimuth about its vertical axis and
// the camera rises by elevation. Rendering happens at SUPERSAMPLE times the resolution and is box-filtered down, then
// quantised to 8 bits. Only IEEE-exact operations and detmath trigonometry are used, so every view renders to the
// same bytes on every machine.
import { dcos, dsin } from './detmath.js';
import type { Mesh } from './mesh.js';

const CAMERA_DISTANCE = 3.2;
/** Focal length in units of half the image width: an object of radius 1 at the origin spans about 85% of the frame. */
const FOCAL = 2.7;
const AMBIENT = 0.12;
const DIFFUSE = 0.88;
/** The light's elevation above the camera's horizontal plane. */
const LIGHT_ELEVATION = 0.35;
export const SUPERSAMPLE = 2;

export interface View {
  readonly azimuth: number;
  readonly elevation: number;
  /** Light azimuth in the camera frame: negative lights from the viewer's left. */
  readonly light: number;
}

/** Z-buffered triangle rasteriser with per-vertex Lambert shading of the mesh's grey albedo; buffers are reused. */
export class Renderer {
  private readonly color: Float64Array;
  private readonly invDepth: Float64Array;
  private sx = new Float64Array(0);
  private sy = new Float64Array(0);
  private sw = new Float64Array(0);
  private shade = new Float64Array(0);

  constructor(private readonly size: number) {
    this.color = new Float64Array(size * size);
    this.invDepth = new Float64Array(size * size);
  }

  /** 1/depth of the nearest surface per pixel of the last draw; 0 where nothing was drawn. */
  get coverage(): Float64Array {
    return this.invDepth;
  }

  /** Draws at the renderer's (supersampled) size; the returned buffer is reused by the next draw. */
  draw(mesh: Mesh, view: View): Float64Array {
    const n = this.size;
    this.color.fill(0);
    this.invDepth.fill(0);
    const nv = mesh.positions.length / 3;
    if (this.sx.length < nv) {
      this.sx = new Float64Array(nv);
      this.sy = new Float64Array(nv);
      this.sw = new Float64Array(nv);
      this.shade = new Float64Array(nv);
    }
    const ca = dcos(view.azimuth);
    const sa = dsin(view.azimuth);
    const ce = dcos(view.elevation);
    const se = dsin(view.elevation);
    const cl = dcos(LIGHT_ELEVATION);
    const lx = dsin(view.light) * cl;
    const ly = dsin(LIGHT_ELEVATION);
    const lz = dcos(view.light) * cl;
    const half = n / 2;
    const { positions: P, normals: N, albedo: A } = mesh;
    for (let i = 0; i < nv; i++) {
      // Object turns by azimuth about y, then the camera's elevation tilts the scene about x (top towards the camera).
      const x = P[3 * i] as number;
      const y = P[3 * i + 1] as number;
      const z = P[3 * i + 2] as number;
      const x1 = ca * x + sa * z;
      const z1 = ca * z - sa * x;
      const y2 = ce * y - se * z1;
      const z2 = se * y + ce * z1;
      const w = 1 / (CAMERA_DISTANCE - z2);
      this.sx[i] = half + half * FOCAL * x1 * w;
      this.sy[i] = half - half * FOCAL * y2 * w;
      this.sw[i] = w;
      const nx = N[3 * i] as number;
      const ny = N[3 * i + 1] as number;
      const nz = N[3 * i + 2] as number;
      const nx1 = ca * nx + sa * nz;
      const nz1 = ca * nz - sa * nx;
      const ny2 = ce * ny - se * nz1;
      const nz2 = se * ny + ce * nz1;
      const lambert = nx1 * lx + ny2 * ly + nz2 * lz;
      this.shade[i] = (A[i] as number) * (AMBIENT + DIFFUSE * (lambert > 0 ? lambert : 0));
    }
    const T = mesh.triangles;
    for (let t = 0; t < T.length; t += 3) this.triangle(T[t] as number, T[t + 1] as number, T[t + 2] as number);
    return this.color;
  }

  private triangle(a: number, b: number, c: number): void {
    const n = this.size;
    const { sx, sy, sw, shade } = this;
    const ax = sx[a] as number;
    const ay = sy[a] as number;
    const bx = sx[b] as number;
    const by = sy[b] as number;
    const cx = sx[c] as number;
    const cy = sy[c] as number;
    // Meshes are wound counter-clockwise seen from outside; with y pointing down on screen a front face has negative
    // area here. Back faces of closed meshes are hidden anyway, so culling them only saves time.
    const area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
    if (area >= 0) return;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx, cx)));
    const x1 = Math.min(n - 1, Math.ceil(Math.max(ax, bx, cx)));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by, cy)));
    const y1 = Math.min(n - 1, Math.ceil(Math.max(ay, by, cy)));
    if (x0 > x1 || y0 > y1) return;
    const inv = 1 / area;
    const wa = sw[a] as number;
    const wb = sw[b] as number;
    const wc = sw[c] as number;
    const ka = (shade[a] as number) * wa;
    const kb = (shade[b] as number) * wb;
    const kc = (shade[c] as number) * wc;
    // Edge functions are affine in the pixel centre: evaluate them at the first centre of each row, then step by their
    // x-slope. Weights are normalised by the (negative) area, so a centre is inside when all three are >= 0; a centre
    // on a shared edge belongs to both triangles (the z-buffer decides).
    const dax = -(cy - by) * inv;
    const dbx = -(ay - cy) * inv;
    for (let py = y0; py <= y1; py++) {
      const y = py + 0.5;
      const x = x0 + 0.5;
      let ba = ((bx - x) * (cy - y) - (by - y) * (cx - x)) * inv;
      let bb = ((cx - x) * (ay - y) - (cy - y) * (ax - x)) * inv;
      let row = py * n + x0;
      for (let px = x0; px <= x1; px++, row++, ba += dax, bb += dbx) {
        const bc = 1 - ba - bb;
        if (ba < 0 || bb < 0 || bc < 0) continue;
        const w = ba * wa + bb * wb + bc * wc;
        if (w > (this.invDepth[row] as number)) {
          this.invDepth[row] = w;
          // Shading interpolated perspective-correctly (weighted by 1/depth).
          this.color[row] = (ba * ka + bb * kb + bc * kc) / w;
        }
      }
    }
  }
}

/** Box-filters a supersampled render (values in [0, 1], `channels` per pixel) down by k and quantises it to bytes. */
export function downsample(fine: Float64Array, size: number, k: number, channels = 1): Uint8Array {
  const out = new Uint8Array(size * size * channels);
  const big = size * k;
  const norm = 255 / (k * k);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let dy = 0; dy < k; dy++) {
          const row = ((y * k + dy) * big + x * k) * channels + c;
          for (let dx = 0; dx < k; dx++) sum += fine[row + dx * channels] as number;
        }
        const v = Math.round(sum * norm);
        out[(y * size + x) * channels + c] = v > 255 ? 255 : v < 0 ? 0 : v;
      }
    }
  }
  return out;
}
