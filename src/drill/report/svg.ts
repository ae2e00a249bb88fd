/**
 * Hand-written SVG charts for the report: no chart library, nothing to download, drawn at report
 * generation time so the page shows them even with scripts disabled. Each x position carries a
 * transparent hover band with a <title>, so hovering shows that second's values natively.
 * Every series and legend entry carries data-series, which the page's small script uses to
 * toggle a series on legend click.
 *
 * Layout promises: the y axes leave headroom above the highest value (no line runs along the top
 * gridline); a right-hand axis has as many steps as the left one, so both share the gridlines; a
 * limit's label sits beside its own line without touching it or another limit line, on a white
 * halo; series are drawn in `layer` order, so a wide series can be put under a narrow one that
 * often takes the same values (p99 under p95 at low rates).
 */

export interface Series {
  name: string;
  color: string;
  values: readonly number[];
  /** Plot against the right-hand axis (line charts only). */
  right?: boolean;
  dashed?: boolean;
  /** Stroke width in px (line charts); default 2. */
  width?: number;
  /** Drawing order, lowest first (line charts); default 0. The legend keeps the given order. */
  layer?: number;
}

export interface Limit {
  value: number;
  label: string;
  color: string;
  right?: boolean;
}

export interface Marker {
  x: number;
  label: string;
  color: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  /** x values (seconds since start), one per sample. */
  x: readonly number[];
  series: readonly Series[];
  yLabel: string;
  y2Label?: string;
  limits?: readonly Limit[];
  /** Moments marked by a vertical line across the plot (e.g. an alert firing), x in seconds. */
  markers?: readonly Marker[];
  /** Formats a value for tooltips. */
  format?: (v: number, s: Series) => string;
}

const W = 960;
const H = 280;
const M = { left: 64, right: 64, top: 16, bottom: 40 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** The smallest "nice" step (1, 2, 2.5, 5 × 10^k) ≥ raw. */
function niceStep(raw: number): number {
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw - 1e-12) ?? 10 * mag;
}

/** A "nice" axis maximum and tick step covering `max` (1, 2, 2.5, 5 × 10^k). */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { max: 1, step: 0.2 };
  const step = niceStep(max / ticks);
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

/** Share of the axis kept free above the highest value. */
export const HEADROOM = 0.1;

export interface Axis {
  max: number;
  step: number;
  /** Number of steps from 0 to max. */
  steps: number;
}

/** A value axis whose top is at least HEADROOM above `max`. */
export function valueAxis(max: number): Axis {
  const s = niceScale(max > 0 && Number.isFinite(max) ? max * (1 + HEADROOM) : 0);
  return { ...s, steps: Math.round(s.max / s.step) };
}

/** A second axis with exactly `steps` steps (so it shares the first one's gridlines), with headroom. */
export function alignedAxis(max: number, steps: number): Axis {
  if (!(max > 0) || !Number.isFinite(max)) return { max: steps * 0.2, step: 0.2, steps };
  const step = niceStep((max * (1 + HEADROOM)) / steps);
  return { max: step * steps, step, steps };
}

function num(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return String(Math.round(v));
  if (a >= 1) return String(+v.toFixed(1));
  return String(+v.toFixed(3));
}

function r(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

interface Frame {
  sx: (x: number) => number;
  sy: (y: number) => number;
  sy2: (y: number) => number;
  body: string[];
}

function frame(spec: ChartSpec, yMax: number, y2Max: number): Frame {
  const xMax = Math.max(1, spec.x[spec.x.length - 1] ?? 1);
  const ys = valueAxis(yMax);
  const y2s = alignedAxis(y2Max, ys.steps);
  const sx = (x: number) => M.left + (x / xMax) * PW;
  const sy = (y: number) => M.top + PH - (y / ys.max) * PH;
  const sy2 = (y: number) => M.top + PH - (y / y2s.max) * PH;
  const body: string[] = [];
  for (let i = 0; i <= ys.steps; i++) {
    const v = i * ys.step;
    body.push(
      `<line class="grid" x1="${M.left}" x2="${M.left + PW}" y1="${r(sy(v))}" y2="${r(sy(v))}"/>`,
      `<text class="tick" x="${M.left - 6}" y="${r(sy(v) + 4)}" text-anchor="end">${num(v)}</text>`,
    );
  }
  if (spec.y2Label) {
    for (let i = 0; i <= y2s.steps; i++) {
      const v = i * y2s.step;
      body.push(`<text class="tick" x="${M.left + PW + 6}" y="${r(sy2(v) + 4)}">${num(v)}</text>`);
    }
    body.push(
      `<text class="axis" transform="translate(${W - 12},${M.top + PH / 2}) rotate(90)" text-anchor="middle">${escapeXml(spec.y2Label)}</text>`,
    );
  }
  const xs = niceScale(xMax, 10);
  for (let v = 0; v <= xMax + 1e-9; v += xs.step) {
    body.push(
      `<text class="tick" x="${r(sx(v))}" y="${M.top + PH + 16}" text-anchor="middle">${num(v)}s</text>`,
    );
  }
  body.push(
    `<line class="axisline" x1="${M.left}" x2="${M.left + PW}" y1="${M.top + PH}" y2="${M.top + PH}"/>`,
    `<text class="axis" transform="translate(14,${M.top + PH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
    `<text class="axis" x="${M.left + PW / 2}" y="${H - 4}" text-anchor="middle">seconds since start</text>`,
  );
  return { sx, sy, sy2, body };
}

function hoverBands(spec: ChartSpec, sx: (x: number) => number): string {
  const fmt = spec.format ?? ((v: number) => num(v));
  const out: string[] = ['<g class="hover">'];
  spec.x.forEach((x, i) => {
    const left = i === 0 ? M.left : (sx(spec.x[i - 1]) + sx(x)) / 2;
    const right = i === spec.x.length - 1 ? M.left + PW : (sx(x) + sx(spec.x[i + 1])) / 2;
    const lines = spec.series.map((s) => `${s.name}: ${fmt(s.values[i] ?? 0, s)}`).join('\n');
    out.push(
      `<rect x="${r(left)}" y="${M.top}" width="${r(Math.max(0.5, right - left))}" height="${PH}"><title>t = ${num(x)} s\n${escapeXml(lines)}</title></rect>`,
    );
  });
  out.push('</g>');
  return out.join('');
}

function legend(spec: ChartSpec): string {
  return `<div class="legend">${spec.series
    .map(
      (s) =>
        `<button type="button" class="key" data-chart="${spec.id}" data-series="${escapeXml(s.name)}"><span class="swatch" style="background:${s.color}"></span>${escapeXml(s.name)}${s.right ? ' (right axis)' : ''}</button>`,
    )
    .join('')}</div>`;
}

function wrap(spec: ChartSpec, inner: string): string {
  return (
    `<figure class="chart" id="${spec.id}"><figcaption>${escapeXml(spec.title)}</figcaption>` +
    `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeXml(spec.title)}" xmlns="http://www.w3.org/2000/svg">${inner}</svg>` +
    `${legend(spec)}</figure>`
  );
}

/**
 * Where a limit's 11 px label goes relative to its line at `y`: its box spans from 11 px above to
 * 3 px below its baseline (ascent and descent), so a baseline 5 px above the line, or 14 px below
 * it, keeps the text 2 px clear of the line.
 */
const LABEL_ABOVE = { baseline: -5, top: -16, bottom: -2 };
const LABEL_BELOW = { baseline: 14, top: 2, bottom: 17 };

/**
 * The baseline of a limit's label: above its line when that box is inside the plot and no other
 * limit line (`others`: their y positions) crosses it, else below, else above anyway.
 */
export function limitLabelBaseline(y: number, others: readonly number[]): number {
  const free = (p: typeof LABEL_ABOVE) =>
    y + p.top >= M.top &&
    y + p.bottom <= M.top + PH &&
    others.every((o) => o < y + p.top - 1 || o > y + p.bottom + 1);
  if (free(LABEL_ABOVE)) return y + LABEL_ABOVE.baseline;
  if (free(LABEL_BELOW)) return y + LABEL_BELOW.baseline;
  return y + LABEL_ABOVE.baseline;
}

/** Lines over time; series with `right` use the right-hand axis. */
export function lineChart(spec: ChartSpec): string {
  const maxOf = (right: boolean) =>
    Math.max(
      0,
      ...spec.series.filter((s) => Boolean(s.right) === right).flatMap((s) => s.values),
      ...(spec.limits ?? []).filter((l) => Boolean(l.right) === right).map((l) => l.value),
    );
  const f = frame(spec, maxOf(false), maxOf(true));
  const limits = (spec.limits ?? []).map((l) => ({ ...l, y: (l.right ? f.sy2 : f.sy)(l.value) }));
  for (const l of limits) {
    f.body.push(
      `<line class="limit" x1="${M.left}" x2="${M.left + PW}" y1="${r(l.y)}" y2="${r(l.y)}" stroke="${l.color}"/>`,
    );
  }
  const drawOrder = spec.series
    .map((s, i) => ({ s, i }))
    .sort((a, b) => (a.s.layer ?? 0) - (b.s.layer ?? 0) || a.i - b.i);
  for (const { s } of drawOrder) {
    const sy = s.right ? f.sy2 : f.sy;
    const pts = spec.x.map((x, i) => `${r(f.sx(x))},${r(sy(s.values[i] ?? 0))}`).join(' ');
    f.body.push(
      `<polyline data-series="${escapeXml(s.name)}" fill="none" stroke="${s.color}" stroke-width="${s.width ?? 2}" stroke-linejoin="round"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts}"/>`,
    );
  }
  // Labels over the series, each on a white halo: left-axis limits labelled on the left,
  // right-axis ones on the right.
  for (const l of limits) {
    const base = r(
      limitLabelBaseline(
        l.y,
        limits.filter((o) => o !== l).map((o) => o.y),
      ),
    );
    const x = l.right ? `x="${M.left + PW - 4}" text-anchor="end"` : `x="${M.left + 4}"`;
    f.body.push(
      `<text class="tick limit-label" ${x} y="${base}" fill="${l.color}" stroke="#fff" stroke-width="3" paint-order="stroke">${escapeXml(l.label)}</text>`,
    );
  }
  f.body.push(markers(spec, f.sx), hoverBands(spec, f.sx));
  return wrap(spec, f.body.join(''));
}

/** A dashed vertical line per marker inside the plot, its label at the top on a white halo. */
function markers(spec: ChartSpec, sx: (x: number) => number): string {
  const xMax = Math.max(1, spec.x[spec.x.length - 1] ?? 1);
  return (spec.markers ?? [])
    .filter((m) => m.x >= 0 && m.x <= xMax)
    .map((m) => {
      const x = r(sx(m.x));
      return (
        `<line class="marker" x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + PH}" stroke="${m.color}" stroke-dasharray="3 3"/>` +
        `<text class="tick" x="${x}" y="${M.top + 11}" dx="3" fill="${m.color}" stroke="#fff" stroke-width="3" paint-order="stroke">${escapeXml(m.label)}</text>`
      );
    })
    .join('');
}

/** Stacked bars per sample (e.g. responses by status code each second). */
export function stackedBarChart(spec: ChartSpec): string {
  const totals = spec.x.map((_, i) => spec.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const f = frame(spec, Math.max(0, ...totals), 0);
  const n = spec.x.length;
  const barW = Math.max(1, (PW / Math.max(1, n)) * 0.8);
  for (const [i, x] of spec.x.entries()) {
    let base = 0;
    for (const s of spec.series) {
      const v = s.values[i] ?? 0;
      if (v <= 0) continue;
      const y0 = f.sy(base);
      const y1 = f.sy(base + v);
      f.body.push(
        `<rect data-series="${escapeXml(s.name)}" x="${r(f.sx(x) - barW)}" y="${r(y1)}" width="${r(barW)}" height="${r(Math.max(0.5, y0 - y1))}" fill="${s.color}"/>`,
      );
      base += v;
    }
  }
  f.body.push(hoverBands(spec, f.sx));
  return wrap(spec, f.body.join(''));
}
