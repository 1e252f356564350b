// The report page: one HTML file that reads top to bottom as the answer to the study's question (which configuration,
// at what reconstruction cost, how much is seed luck), with every figure inline as static SVG (readable with no
// server and no script) and, when the inlined vega runtime runs, redrawn live from its embedded spec (tooltips).
import { assignedLatents } from './dcign-latents.js';
import type { PlanCheck } from './plan-checks.js';
import { HELDOUT_RECON_RATIO, LOSS_IDENTITY_TOLERANCE } from '../sweep/loss-identity.js';
import { COLLAPSE_KL_NATS, collapseReason } from '../sweep/collapse.js';
import type { Analysis } from './analysis.js';
import type { Finding } from './findings.js';
import { metricLabel } from './figures.js';
import type { StudyData } from './gather.js';
import type { MeanCi } from './stats.js';
import { esc, fmt, intervalText } from './html-format.js';
import { factorSection } from './factor-section.js';
import type { LatentLabel } from './traversal-grid.js';
import { mlflowExperimentLink } from '../tracking/ui-links.js';

export interface PageFigure {
  readonly id: string;
  readonly title: string;
  readonly caption: string;
  readonly svg: string;
  /** Compiled Vega spec, or undefined for a figure drawn without vega (traversal grids). */
  readonly vega: unknown;
  readonly png: string;
}

export interface PageTraversal {
  readonly configuration: string;
  readonly trial: string;
  readonly rankValue: number | undefined;
  readonly grid: PageFigure | undefined;
  readonly gifs: readonly { readonly file: string; readonly label: LatentLabel }[];
}

export interface PageSections {
  readonly distributions: PageFigure[];
  readonly tradeoff: PageFigure | undefined;
  readonly klLatent: PageFigure | undefined;
  readonly covariance: PageFigure | undefined;
  readonly mutualInfo: PageFigure | undefined;
  readonly correlation: PageFigure | undefined;
  /** search.pbt: the members' lineage (absent for other sweeps). */
  readonly lineage?: PageFigure | undefined;
  readonly traversals: PageTraversal[];
  /** What the report could not show, and why. */
  readonly notes: string[];
  /** The Findings: differences between configurations with their intervals over seeds (findings.ts). */
  readonly findings: readonly Finding[];
  /** The plan's per-trial checks (plan-checks.ts). */
  readonly checks: readonly PlanCheck[];
}

function ci(c: MeanCi | undefined): string {
  if (c === undefined || c.n === 0) return '<td class="na">–</td>';
  const range = Number.isFinite(c.lo) ? `<span class="ci">${intervalText(c)}</span>` : `<span class="ci">(${c.n} seed)</span>`;
  return `<td>${fmt(c.mean)} ${range}</td>`;
}

function figure(f: PageFigure | undefined): string {
  if (f === undefined) return '';
  const spec = f.vega === undefined ? '' : `<script type="application/json" id="spec-${f.id}">${JSON.stringify(f.vega).replace(/</g, '\\u003c')}</script>`;
  return `<figure id="fig-${f.id}" class="figure">
<div class="chart${f.vega === undefined ? '' : ' vega'}" data-spec="spec-${f.id}">${f.svg}</div>${spec}
<figcaption>${esc(f.caption)} <a href="${esc(f.png)}">PNG</a></figcaption>
</figure>`;
}

const STYLE = `body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:24px}h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:36px}h3{font-size:15px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.ci{color:#777;font-size:11px}.na{color:#aaa}
.best{background:#eef7ee}figure{margin:16px 0}figcaption{font-size:12px;color:#555;max-width:900px}
.gifs{display:flex;flex-wrap:wrap;gap:10px}.gifs figure{margin:0;text-align:center;font-size:11px;width:120px}
.gifs img{width:96px;height:96px;image-rendering:pixelated;border:1px solid #ccc}.note{color:#8a5a00}
.lede{font-size:14px;max-width:900px}code{background:#f4f4f4;padding:0 3px}`;

/** The page. `vegaRuntime` is vega.min.js, inlined so the page needs no network; the static SVGs stand without it. */
export function reportHtml(data: StudyData, a: Analysis, s: PageSections, vegaRuntime: string, generated: Date): string {
  const r = a.ranking;
  const seeds = [...new Set(data.trials.map((t) => t.seed))].sort((x, y) => x - y);
  const ranked = [...a.groups].sort((g, h) => {
    const gv = a.table.get(g.label)?.get(r.metric)?.mean ?? NaN;
    const hv = a.table.get(h.label)?.get(r.metric)?.mean ?? NaN;
    if (!Number.isFinite(gv)) return 1;
    if (!Number.isFinite(hv)) return -1;
    return r.mode === 'min' ? gv - hv : hv - gv;
  });
  const top = ranked[0];
  const topCi = top ? a.table.get(top.label)?.get(r.metric) : undefined;
  const overlapping = ranked.slice(1).filter((g) => {
    const c = a.table.get(g.label)?.get(r.metric);
    return c !== undefined && topCi !== undefined && Number.isFinite(c.hi) && Number.isFinite(topCi.lo) && c.hi >= topCi.lo && c.lo <= topCi.hi;
  });
  const link = mlflowExperimentLink(data.trackingUri, data.experimentId);
  const head = ['configuration', 'seeds', ...a.metrics.map(metricLabel)];
  const rows = ranked
    .map((g) => `<tr${g === top ? ' class="best"' : ''}><td>${esc(g.label)}</td><td>${g.trials.length}</td>${a.metrics.map((m) => ci(a.table.get(g.label)?.get(m))).join('')}</tr>`)
    .join('\n');
  const audit = data.trials
    .map((t) => {
      const p = t.posterior;
      const meanNorm = p ? Math.sqrt(p.mean.reduce((acc, m) => acc + m * m, 0)) : NaN;
      const diag = p ? p.covariance.map((row, i) => row[i] as number) : [];
      return `<tr><td>${esc(t.name)}</td><td>${esc(t.config.label)}</td><td>${t.seed}</td><td>${fmt(meanNorm)}</td><td>${diag.length ? `${fmt(Math.min(...diag))} – ${fmt(Math.max(...diag))}` : '–'}</td><td>${fmt(p?.gaussianKlLowerBound)}</td><td>${fmt(p?.gaussianTc)}</td><td>${fmt(t.metrics.active_units)}</td><td${collapseReason(t.metrics) ? ' class="note"' : ''}>${esc(collapseReason(t.metrics) ?? 'no')}</td><td>${fmt(p?.prior.blank)}</td>${p?.prior.brokenNotApplicable ? `<td class="na" title="${esc(p.prior.brokenNotApplicable)}">n/a</td>` : `<td>${fmt(p?.prior.broken)}</td>`}</tr>`;
    })
    .join('\n');
  const traversals = s.traversals
    .map(
      (tr) => `<h3>${esc(tr.configuration)}: best seed <code>${esc(tr.trial)}</code> (${esc(r.metric)} ${fmt(tr.rankValue)})</h3>
${figure(tr.grid)}
<div class="gifs">${tr.gifs.map((g) => `<figure><img src="${esc(g.file)}" alt="${esc(g.label.text)}"><figcaption>${esc(g.label.text)}</figcaption></figure>`).join('')}</div>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dcign study report: ${esc(data.sweep)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body>
<h1>Study report: ${esc(data.sweep)}</h1>
<p class="lede">${data.trials.length} trials on <code>${esc(data.dataset)}</code>: ${a.groups.length} configurations × seeds {${seeds.join(', ')}}.
Trials are ranked by <b>${esc(metricLabel(r.metric))}</b> (${r.mode === 'max' ? 'higher' : 'lower'} is better; ${esc(r.why)}).
Intervals over seeds: from 3 seeds the 95% Student t interval of the mean (t95), from 2 seeds only their range (no honest 95% interval exists from two values); n says how many seeds each rests on. MLflow: <a href="${esc(link)}">${esc(link)}</a>.
Generated ${generated.toISOString()} from MLflow alone.</p>

<h2 id="answer">Answer</h2>
<p class="lede">${
    top && topCi
      ? `Best configuration by mean ${esc(r.metric)}: <b>${esc(top.label)}</b>, ${fmt(topCi.mean)} ${intervalText(topCi)}` +
        (overlapping.length > 0
          ? `; its interval overlaps those of ${overlapping.map((g) => `<b>${esc(g.label)}</b>`).join(', ')}, so with these seeds the ranking among them is not settled (seed luck).`
          : '; no other configuration\'s interval overlaps it.')
      : `No trial has ${esc(r.metric)} yet.`
  }</p>
${s.notes.length ? `<ul>${s.notes.map((n) => `<li class="note">${esc(n)}</li>`).join('')}</ul>` : ''}

<h2 id="findings">Findings</h2>
<p class="lede">Each row: the difference of the means over seeds (first minus second configuration), its 95% Welch t interval, and whether that
interval excludes 0 (<b>settled</b>) or holds it (<b>inside the seed noise</b>); n = seeds per side.</p>
${
    s.findings.length === 0
      ? '<p class="note">No pair of configurations to compare (no architecture twins and no plain VAE, beta-vae at beta 1, in this sweep).</p>'
      : `<table><thead><tr><th>question</th><th>configuration</th><th>against</th><th>difference</th><th>95% interval</th><th>n</th><th>verdict</th></tr></thead><tbody>
${s.findings.map((f) => `<tr><td>${esc(f.question)}</td><td>${esc(f.a)}</td><td>${esc(f.b)}</td><td>${fmt(f.d.diff)}</td><td>${Number.isFinite(f.d.lo) ? `[${fmt(f.d.lo)}, ${fmt(f.d.hi)}]` : '–'}</td><td>${f.d.na} vs ${f.d.nb}</td><td${f.d.verdict === 'settled' ? ' class="best"' : ''}>${f.d.verdict}</td></tr>`).join('\n')}
</tbody></table>`
  }

<h2 id="checks">The plan's checks, per trial</h2>
<p class="lede">Is the logged total loss the variant's equation of its own logged terms at the last log step, with the weights
from the trial's configuration (within ${LOSS_IDENTITY_TOLERANCE} of the terms' magnitude)? And does the decoder reconstruct
images the trial did not train on (held-out reconstruction error of the evaluation at most ${HELDOUT_RECON_RATIO}x the final
training one; the evaluation computes it when its metrics include <code>elbo</code>)? A trial failing either is flagged.</p>
<table><thead><tr><th>trial</th><th>configuration</th><th>seed</th><th>loss equation</th><th>logged loss</th><th>logged − equation</th><th>held-out recon</th><th>training recon</th><th>ratio</th><th>flagged</th></tr></thead><tbody>
${s.checks
  .map((c) => {
    const l = c.loss;
    const lossCells = l.applies ? `<td>${esc(l.equation)}</td><td>${fmt(l.logged)}</td><td${l.ok ? '' : ' class="note"'}>${fmt(l.residual)}</td>` : `<td class="na" colspan="3" title="${esc(l.why)}">n/a: ${esc(l.why)}</td>`;
    return `<tr><td>${esc(c.trial.name)}</td><td>${esc(c.trial.config.label)}</td><td>${c.trial.seed}</td>${lossCells}<td>${fmt(c.trial.metrics.heldout_recon)}</td><td>${fmt(c.trial.metrics.recon)}</td><td${c.heldOut && !c.heldOut.ok ? ' class="note"' : ''}>${c.heldOut ? c.heldOut.ratio.toFixed(2) : '–'}</td><td${c.flags.length ? ' class="note"' : ''}>${c.flags.length ? esc(c.flags.join('; ')) : 'no'}</td></tr>`;
  })
  .join('\n')}
</tbody></table>

${factorSection(a)}
${dcignSection(data)}
<h2 id="table">Mean and interval over seeds per configuration (t95 from 3 seeds, range from 2)</h2>
<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${rows}
</tbody></table>

${s.lineage ? `<h2 id="lineage">Population-based training: lineage</h2>\n${figure(s.lineage)}\n` : ''}
<h2 id="tradeoff">Reconstruction vs disentanglement</h2>
${figure(s.tradeoff)}

<h2 id="distributions">Each metric over seeds</h2>
${s.distributions.map(figure).join('\n')}

<h2 id="latents">Latent space: KL per latent and active units</h2>
${figure(s.klLatent)}
${figure(s.mutualInfo)}

<h2 id="posterior">Posterior audit: is q(z) close to N(0, I)?</h2>
<p class="lede">Aggregate posterior q(z) = E<sub>x</sub> q(z|x) of each trial on ${data.trials[0]?.posterior?.samples ?? '–'} images: its mean (‖mean‖ = 0 for N(0, I)), the range of its
variances (1 for N(0, I)), a lower bound of its KL to N(0, I) (the KL of the Gaussian with its mean and covariance: q(z) itself need
not be Gaussian, and KL(q ‖ N(0, I)) = KL(q ‖ that Gaussian) + this bound) and Gaussian total correlation (0 when its latents are uncorrelated); and the
fraction of prior samples z ~ N(0, I) whose decoded image is blank (nothing drawn) or broken (mostly half-grey smear).</p>
<table><thead><tr><th>trial</th><th>configuration</th><th>seed</th><th>‖mean‖</th><th>variances</th><th>KL(q(z) ‖ N(0, I)) ≥</th><th>Gaussian TC</th><th>active units</th><th>collapsed (no active unit or KL &lt; ${COLLAPSE_KL_NATS} nats)</th><th>prior blank</th><th>prior broken</th></tr></thead><tbody>
${audit}
</tbody></table>
${figure(s.covariance)}

<h2 id="correlation">How the metrics agree</h2>
${figure(s.correlation)}

<h2 id="traversals">Latent traversals of the best seed of each configuration</h2>
<p class="lede">Each row sweeps one latent from −2 to 2 with the others at one image's encoding; the label names the factor that latent
captures (largest mutual information / factor entropy). The animations loop each latent's sweep.</p>
${traversals}

<script>${vegaRuntime.replace(/<\/script/gi, '<\\/script')}</script>
<script>
(function () {
  if (typeof vega === 'undefined') return; // the static SVGs stay
  document.querySelectorAll('.vega').forEach(function (el) {
    var specEl = document.getElementById(el.getAttribute('data-spec'));
    if (!specEl) return;
    var fallback = el.innerHTML;
    try {
      el.innerHTML = '';
      new vega.View(vega.parse(JSON.parse(specEl.textContent)), { renderer: 'svg', container: el, hover: true })
        .runAsync()
        .then(function () { el.setAttribute('data-live', 'true'); })
        .catch(function () { el.innerHTML = fallback; });
    } catch (e) {
      el.innerHTML = fallback;
    }
  });
})();
</script>
</body></html>
`;
}

/** DCIGN trials: does each assigned latent carry its own factor more than any other (dcign-latents.ts)? */
function dcignSection(data: StudyData): string {
  const rows = data.trials.flatMap((t) =>
    (assignedLatents(t) ?? []).map(
      (a) =>
        `<tr><td>${esc(t.name)}</td><td>${esc(t.config.label)}</td><td>${t.seed}</td><td>${esc(a.factor)}</td><td>z${a.latents.join(', z')}</td><td>${fmt(a.own)}</td><td>${a.rival ? `${esc(a.rival.factor)} ${fmt(a.rival.value)}` : '–'}</td><td${a.carries ? ' class="best"' : ' class="note"'}>${a.carries ? 'yes' : 'no'}</td><td>${fmt(t.metrics[`dcign_recovered_${a.factor}`])}</td><td>${fmt(t.metrics[`dcign_modelled_${a.factor}`])}</td></tr>`,
    ),
  );
  if (rows.length === 0) return '';
  return `<h2 id="dcign">DCIGN: does each assigned latent carry its own factor?</h2>
<p class="lede">For every factor of a DCIGN trial's assignment: the largest mutual information of its latents with that factor, over the
factor's entropy (1: the latents determine it), against the largest they share with any other factor. DCIGN trains only
within one-factor batches (the other latents clamped), so a latent can follow its factor inside each batch yet not across
batches; this is the across-dataset view. DCIGN's own view, inside groups of images that differ in that factor alone:
<i>recovered</i> is the share of the reconstruction error that clamping every latent to the group's mean costs which freeing the
factor's latents alone wins back (1: they carry its variation), and <i>modelled</i> is how much of the group's variation the whole
model reconstructs at all (1 − error with every latent free / error with the group's mean code): a factor the model does not
reconstruct cannot be carried by any latent.</p>
<table><thead><tr><th>trial</th><th>configuration</th><th>seed</th><th>factor</th><th>latents</th><th>MI with it / H</th><th>most with another factor</th><th>carries it</th><th>recovered</th><th>modelled</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
`;
}
