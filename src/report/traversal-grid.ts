// A trial's latent traversal grid (images/latent_traversals.png: one row per latent, columns sweeping it over [-2, 2])
// with each row labelled by the factor that latent captures: the factor of largest normalised mutual information
// (mutual information / factor entropy, Chen et al. 2018's MIG ingredients), with that value and the latent's KL.
import type { MutualInfo } from './gather.js';

export interface LatentLabel {
  readonly latent: number;
  /** The factor with the largest normalised MI, or undefined when the data has no factors. */
  readonly factor: string | undefined;
  readonly nmi: number;
  readonly kl: number;
  /** KL under 0.01 nats: the latent carries (almost) nothing (posterior collapse). */
  readonly unused: boolean;
  readonly text: string;
}

export function latentLabels(latents: number, mi: MutualInfo | undefined, kl: readonly number[] | undefined): LatentLabel[] {
  return Array.from({ length: latents }, (_, j) => {
    let factor: string | undefined;
    let nmi = NaN;
    mi?.normalised.forEach((row, k) => {
      const v = row[j] as number;
      if (!(v <= nmi)) {
        nmi = v;
        factor = mi.factorNames[k];
      }
    });
    const k = kl?.[j] ?? NaN;
    const unused = k < 0.01;
    const what = unused ? 'unused' : factor === undefined ? 'no factor data' : `${factor} (NMI ${nmi.toFixed(2)})`;
    return { latent: j, factor, nmi, kl: k, unused, text: `z${j}: ${what}${Number.isFinite(k) ? `, KL ${k.toFixed(2)}` : ''}` };
  });
}

/**
 * An SVG holding the traversal grid PNG with a title, the row labels on the left and the swept values along the
 * bottom. `tile` and `padding` are the grid's geometry (src/viz/grid.ts: padding 2).
 */
export function labelledTraversalSvg(o: {
  readonly png: Buffer;
  readonly title: string;
  readonly labels: readonly LatentLabel[];
  readonly columns: number;
  readonly tile: number;
  readonly padding?: number;
  readonly scale?: number;
}): string {
  const pad = o.padding ?? 2;
  const scale = o.scale ?? 2;
  const gridW = (o.columns * (o.tile + pad) + pad) * scale;
  const gridH = (o.labels.length * (o.tile + pad) + pad) * scale;
  const left = 250;
  const top = 44;
  const bottom = 40;
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const rows = o.labels
    .map((l, j) => {
      const y = top + (pad + j * (o.tile + pad) + o.tile / 2) * scale + 4;
      return `<text x="${left - 8}" y="${y}" text-anchor="end" font-size="12" fill="${l.unused ? '#999' : '#222'}">${esc(l.text)}</text>`;
    })
    .join('\n');
  const ticks = Array.from({ length: o.columns }, (_, c) => {
    const v = -2 + (4 * c) / Math.max(1, o.columns - 1);
    const x = left + (pad + c * (o.tile + pad) + o.tile / 2) * scale;
    return `<text x="${x}" y="${top + gridH + 16}" text-anchor="middle" font-size="11">${v.toFixed(1)}</text>`;
  }).join('\n');
  const w = left + gridW + 20;
  const h = top + gridH + bottom;
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${h}" font-family="DejaVu Sans, sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="15">${esc(o.title)}</text>
<text x="${left - 8}" y="${top - 6}" text-anchor="end" font-size="12" font-weight="bold">latent: factor it captures</text>
<image x="${left}" y="${top}" width="${gridW}" height="${gridH}" style="image-rendering:pixelated" xlink:href="data:image/png;base64,${o.png.toString('base64')}"/>
${rows}
${ticks}
<text x="${left + gridW / 2}" y="${top + gridH + 34}" text-anchor="middle" font-size="12">value of the traversed latent (the others at one image's encoding)</text>
</svg>`;
}
