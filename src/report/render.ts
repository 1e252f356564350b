// Vega-Lite spec -> Vega spec -> static SVG (vega's headless View, no browser) -> PNG (resvg). The compiled Vega spec
// also goes into the page, where the inlined vega runtime draws it live (tooltips); the SVG is what shows without it.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface Rendered {
  /** The compiled Vega spec (what the page's runtime draws). */
  readonly vega: vega.Spec;
  readonly svg: string;
}

export async function renderSpec(spec: TopLevelSpec): Promise<Rendered> {
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return { vega: compiled, svg };
  } finally {
    view.finalize();
  }
}

/** PNG of an SVG at `scale` (2: crisp on high-density screens), with the system fonts the SVG names. */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return Buffer.from(resvg.render().asPng());
}
