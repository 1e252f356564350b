// The report's "which factors" section: one row per configuration, one column per ground-truth factor, each cell
// MIG's term of that factor (factor-capture.ts) over seeds, with the latent that carries it and whether the difference
// to the plain VAE of the same architecture is settled.
import type { Analysis } from './analysis.js';
import { factorCapture, type FactorCell } from './factor-capture.js';
import { esc, fmt, intervalText } from './html-format.js';

function cell(c: FactorCell | undefined): string {
  if (c === undefined || c.gap.n === 0) return '<td class="na">–</td>';
  const latent = c.latent ? ` <span class="ci">z${c.latent.index}${c.gap.n > 1 ? ` in ${c.latent.seeds}/${c.gap.n}` : ''}</span>` : '';
  const v = c.vsVae;
  const mark =
    v === undefined
      ? ''
      : v.verdict === 'settled'
        ? `<br><b>${v.diff > 0 ? '▲' : '▼'} ${fmt(v.diff)}</b> <span class="ci">[${fmt(v.lo)}, ${fmt(v.hi)}] settled</span>`
        : `<br><span class="ci">${fmt(v.diff)} vs VAE: ${v.verdict}</span>`;
  const title = `best latent's normalised MI ${fmt(c.best.mean)} ${intervalText(c.best)}`;
  return `<td title="${esc(title)}"${v?.verdict === 'settled' && v.diff > 0 ? ' class="best"' : ''}>${fmt(c.gap.mean)} <span class="ci">${intervalText(c.gap)}</span>${latent}${mark}</td>`;
}

export function factorSection(a: Analysis): string {
  const fc = factorCapture(a);
  if (fc === undefined) return '';
  const rows = a.groups
    .map((g) => `<tr><td>${esc(g.label)}</td>${fc.factors.map((f) => cell(fc.cells.get(g.label)?.get(f))).join('')}</tr>`)
    .join('\n');
  return `<h2 id="factors">Which factors each configuration disentangles</h2>
<p class="lede">Per factor, MIG's own term before its average over factors: the normalised mutual information (MI / H(factor)) of
the latent that shares most with the factor minus that of the runner-up (1: one latent carries the factor and no other does;
0: none does, or two share it equally), mean and interval over seeds, and the latent that carries it in most seeds. Below each
value its difference to the plain VAE (beta-vae at beta 1) of the same architecture, with its 95% Welch interval: <b>▲ settled</b>
where the configuration disentangles that factor better than the plain VAE beyond the seed noise, <b>▼</b> worse. Hover a cell for
the best latent's own normalised MI (high MI with a low gap: the factor is captured but split over latents).</p>
<table><thead><tr><th>configuration</th>${fc.factors.map((f) => `<th>${esc(f)}</th>`).join('')}</tr></thead><tbody>
${rows}
</tbody></table>
`;
}
