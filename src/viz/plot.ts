// Line and scatter plots drawn straight into RGBA pixels and written as PNG with pngjs: axes, "nice" ticks, a legend,
// a few distinguishable colours and a 5x7 bitmap font. Enough for sweep summaries (metric vs beta per latent size)
// and loss curves, with no native canvas dependency.
import { PNG } from 'pngjs';

export type Rgb = readonly [number, number, number];

/** Colour-blind-friendly palette (Okabe-Ito), then a few more. */
export const PALETTE: readonly Rgb[] = [
  [0, 114, 178],
  [230, 159, 0],
  [0, 158, 115],
  [213, 94, 0],
  [204, 121, 167],
  [86, 180, 233],
  [240, 228, 66],
  [0, 0, 0],
];

export interface Series {
  label: string;
  points: readonly { x: number; y: number }[];
  color?: Rgb;
  /** Draw a line through the points (sorted by x); default true. */
  line?: boolean;
  /** Draw a marker at each point; default true. */
  markers?: boolean;
  /** Marker radius in pixels (default 3). */
  markerRadius?: number;
}

export interface PlotOptions {
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Logarithmic x axis (base 2 ticks), e.g. for beta. */
  logX?: boolean;
}

// 5x7 glyphs, one number per row, bit 4 = leftmost pixel. Lowercase letters are drawn as capitals.
const FONT: Record<string, readonly number[]> = {
  '0': [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
  '1': [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  '2': [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
  '3': [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  '4': [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
  '5': [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  '6': [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
  '7': [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  '8': [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
  '9': [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  A: [0x0e, 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11],
  B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
  D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
  F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
  H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
  J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
  L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
  N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
  R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
  T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
  X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
  Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  '.': [0, 0, 0, 0, 0, 0x0c, 0x0c],
  '-': [0, 0, 0, 0x1f, 0, 0, 0],
  '+': [0, 0x04, 0x04, 0x1f, 0x04, 0x04, 0],
  '=': [0, 0, 0x1f, 0, 0x1f, 0, 0],
  '(': [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
  ')': [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
  '/': [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
  ':': [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0],
  ',': [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  _: [0, 0, 0, 0, 0, 0, 0x1f],
  '%': [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
  ' ': [0, 0, 0, 0, 0, 0, 0],
};

export class Canvas {
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8Array;

  constructor(width: number, height: number, bg: Rgb = [255, 255, 255]) {
    this.width = width;
    this.height = height;
    this.rgba = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) {
      this.rgba[i * 4] = bg[0];
      this.rgba[i * 4 + 1] = bg[1];
      this.rgba[i * 4 + 2] = bg[2];
      this.rgba[i * 4 + 3] = 255;
    }
  }

  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 4;
    this.rgba[i] = c[0];
    this.rgba[i + 1] = c[1];
    this.rgba[i + 2] = c[2];
  }

  rect(x0: number, y0: number, w: number, h: number, c: Rgb): void {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) this.set(x, y, c);
  }

  /** A line of the given thickness (a square brush along a DDA walk). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const r = (thickness - 1) / 2;
    for (let i = 0; i <= n; i++) {
      const x = x0 + ((x1 - x0) * i) / n;
      const y = y0 + ((y1 - y0) * i) / n;
      for (let dy = -Math.floor(r); dy <= Math.ceil(r); dy++) for (let dx = -Math.floor(r); dx <= Math.ceil(r); dx++) this.set(x + dx, y + dy, c);
    }
  }

  disc(cx: number, cy: number, radius: number, c: Rgb): void {
    for (let dy = -radius; dy <= radius; dy++)
      for (let dx = -radius; dx <= radius; dx++) if (dx * dx + dy * dy <= radius * radius + radius) this.set(cx + dx, cy + dy, c);
  }

  /** Text in the 5x7 font; `scale` multiplies pixel size; `vertical` writes bottom-to-top. Returns the width. */
  text(x: number, y: number, s: string, c: Rgb, scale = 1, vertical = false): number {
    let pos = 0;
    for (const ch of s) {
      const g = FONT[ch] ?? FONT[ch.toUpperCase()] ?? FONT[' '];
      g?.forEach((row, ry) => {
        for (let rx = 0; rx < 5; rx++) {
          if (!((row >> (4 - rx)) & 1)) continue;
          for (let sy = 0; sy < scale; sy++)
            for (let sx = 0; sx < scale; sx++) {
              const gx = (pos + rx) * scale + sx;
              const gy = ry * scale + sy;
              if (vertical) this.set(x + gy, y - gx, c);
              else this.set(x + gx, y + gy, c);
            }
        }
      });
      pos += 6;
    }
    return pos * scale;
  }

  png(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.rgba.buffer, this.rgba.byteOffset, this.rgba.byteLength);
    return PNG.sync.write(png);
  }
}

export function textWidth(s: string, scale = 1): number {
  return [...s].length * 6 * scale;
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step); k * step <= hi + step * 1e-9; k++) out.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return out;
}

export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

/** Draws series on shared axes and returns PNG bytes. */
export function renderPlot(series: readonly Series[], o: PlotOptions = {}): Buffer {
  const W = o.width ?? 640;
  const H = o.height ?? 420;
  const legendW = Math.min(200, Math.max(0, ...series.map((s) => textWidth(s.label))) + 30);
  const left = 70;
  const right = legendW + 20;
  const top = o.title ? 36 : 16;
  const bottom = 48;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const cv = new Canvas(W, H);
  const black: Rgb = [0, 0, 0];
  const grey: Rgb = [225, 225, 225];

  const tx = (x: number): number => (o.logX ? Math.log2(x) : x);
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y) && Number.isFinite(tx(p.x)));
  let xlo = Math.min(...pts.map((p) => tx(p.x)));
  let xhi = Math.max(...pts.map((p) => tx(p.x)));
  let ylo = Math.min(...pts.map((p) => p.y));
  let yhi = Math.max(...pts.map((p) => p.y));
  if (pts.length === 0) [xlo, xhi, ylo, yhi] = [0, 1, 0, 1];
  if (xhi === xlo) [xlo, xhi] = [xlo - 1, xhi + 1];
  if (yhi === ylo) [ylo, yhi] = [ylo - Math.abs(ylo || 1) * 0.1, yhi + Math.abs(yhi || 1) * 0.1];
  const padX = (xhi - xlo) * 0.05;
  const padY = (yhi - ylo) * 0.08;
  xlo -= padX;
  xhi += padX;
  ylo -= padY;
  yhi += padY;
  const px = (x: number): number => left + ((tx(x) - xlo) / (xhi - xlo)) * pw;
  const py = (y: number): number => top + ph - ((y - ylo) / (yhi - ylo)) * ph;

  // Grid and ticks.
  const xt = o.logX
    ? niceTicks(xlo, xhi, 6)
        .filter((v) => Number.isInteger(v))
        .map((v) => 2 ** v)
    : niceTicks(xlo, xhi, 6);
  for (const v of xt) {
    const x = px(v);
    if (x < left || x > left + pw) continue;
    cv.line(x, top, x, top + ph, grey);
    cv.line(x, top + ph, x, top + ph + 4, black);
    const label = formatTick(v);
    cv.text(x - textWidth(label) / 2, top + ph + 8, label, black);
  }
  for (const v of niceTicks(ylo, yhi, 6)) {
    const y = py(v);
    if (y < top || y > top + ph) continue;
    cv.line(left, y, left + pw, y, grey);
    cv.line(left - 4, y, left, y, black);
    const label = formatTick(v);
    cv.text(left - 8 - textWidth(label), y - 3, label, black);
  }
  cv.line(left, top, left, top + ph, black);
  cv.line(left, top + ph, left + pw, top + ph, black);
  if (o.title) cv.text(left + (pw - textWidth(o.title, 2)) / 2, 8, o.title, black, 2);
  if (o.xLabel) cv.text(left + (pw - textWidth(o.xLabel)) / 2, top + ph + 26, o.xLabel, black);
  if (o.yLabel) cv.text(12, top + ph / 2 + textWidth(o.yLabel) / 2, o.yLabel, black, 1, true);

  // Data (the ranges contain every finite point), then a legend entry per labelled series.
  let legendRow = 0;
  series.forEach((s, i) => {
    const c = s.color ?? (PALETTE[i % PALETTE.length] as Rgb);
    const p = s.points.filter((q) => Number.isFinite(q.y) && Number.isFinite(tx(q.x)));
    if (s.line ?? true) {
      const sorted = [...p].sort((a, b) => a.x - b.x);
      for (let k = 1; k < sorted.length; k++) {
        const a = sorted[k - 1] as { x: number; y: number };
        const b = sorted[k] as { x: number; y: number };
        cv.line(px(a.x), py(a.y), px(b.x), py(b.y), c, 2);
      }
    }
    if (s.markers ?? true) for (const q of p) cv.disc(px(q.x), py(q.y), s.markerRadius ?? 3, c);
    if (s.label === '') return;
    const ly = top + 6 + legendRow++ * 16;
    const lx = left + pw + 14;
    cv.line(lx, ly + 3, lx + 16, ly + 3, c, 2);
    cv.disc(lx + 8, ly + 3, 2, c);
    cv.text(lx + 22, ly, s.label, black);
  });
  return cv.png();
}

export interface SweepPoint {
  beta: number;
  latentSize: number;
  seed: number;
  value: number;
}

/** Metric vs beta, one line per latent size through the mean over seeds, each seed as a faint dot. */
export function plotMetricVsBeta(points: readonly SweepPoint[], metric: string, o: PlotOptions = {}): Buffer {
  const sizes = [...new Set(points.map((p) => p.latentSize))].sort((a, b) => a - b);
  const series: Series[] = [];
  sizes.forEach((z, i) => {
    const color = PALETTE[i % PALETTE.length] as Rgb;
    const mine = points.filter((p) => p.latentSize === z && Number.isFinite(p.value));
    const betas = [...new Set(mine.map((p) => p.beta))].sort((a, b) => a - b);
    const means = betas.map((b) => {
      const v = mine.filter((p) => p.beta === b).map((p) => p.value);
      return { x: b, y: v.reduce((a, c) => a + c, 0) / v.length };
    });
    const faint: Rgb = [Math.round((color[0] + 255 * 2) / 3), Math.round((color[1] + 255 * 2) / 3), Math.round((color[2] + 255 * 2) / 3)];
    if (mine.length > means.length) series.push({ label: '', points: mine.map((p) => ({ x: p.beta, y: p.value })), color: faint, line: false, markerRadius: 2 });
    series.push({ label: `z=${z}`, points: means, color });
  });
  // Seed dots carry no legend entry and go underneath the means.
  const labelled = series.filter((s) => s.label !== '');
  const unlabelled = series.filter((s) => s.label === '');
  const all = [...unlabelled, ...labelled];
  return renderPlot(all, {
    title: `${metric} vs beta`,
    xLabel: 'beta',
    yLabel: metric,
    logX: points.every((p) => p.beta > 0),
    ...o,
  });
}

/** One trial's point against its variant's own parameter (beta, gamma, capacity, lambda_od ...). */
export interface AxisPoint {
  /** The parameter's value. */
  x: number;
  /** The line it belongs to, e.g. `residual z=10`. */
  line: string;
  seed: number;
  value: number;
}

/**
 * Metric vs one variant's own parameter, one line per `line` label (architecture x latent size) through the mean over
 * seeds, each seed as a faint dot (as plotMetricVsBeta).
 */
export function plotMetricVsParam(points: readonly AxisPoint[], metric: string, title: string, param: string, o: PlotOptions = {}): Buffer {
  const lines = [...new Set(points.map((p) => p.line))].sort();
  const series: Series[] = [];
  lines.forEach((label, i) => {
    const color = PALETTE[i % PALETTE.length] as Rgb;
    const mine = points.filter((p) => p.line === label && Number.isFinite(p.value) && Number.isFinite(p.x));
    const xs = [...new Set(mine.map((p) => p.x))].sort((a, b) => a - b);
    const means = xs.map((x) => {
      const v = mine.filter((p) => p.x === x).map((p) => p.value);
      return { x, y: v.reduce((a, c) => a + c, 0) / v.length };
    });
    const faint: Rgb = [Math.round((color[0] + 255 * 2) / 3), Math.round((color[1] + 255 * 2) / 3), Math.round((color[2] + 255 * 2) / 3)];
    if (mine.length > means.length) series.push({ label: '', points: mine.map((p) => ({ x: p.x, y: p.value })), color: faint, line: false, markerRadius: 2 });
    series.push({ label, points: means, color });
  });
  const all = [...series.filter((s) => s.label === ''), ...series.filter((s) => s.label !== '')];
  return renderPlot(all, {
    title: `${metric} vs ${param} (${title})`,
    xLabel: param,
    yLabel: metric,
    logX: points.length > 0 && points.every((p) => p.x > 0),
    ...o,
  });
}

/** Loss curves: one series per key, value against step. */
export function plotLossCurves(curves: Record<string, readonly { step: number; value: number }[]>, o: PlotOptions = {}): Buffer {
  const series: Series[] = Object.entries(curves).map(([label, pts]) => ({
    label,
    points: pts.map((p) => ({ x: p.step, y: p.value })),
    markers: pts.length <= 40,
  }));
  return renderPlot(series, { title: 'training loss', xLabel: 'step', yLabel: 'loss', ...o });
}
