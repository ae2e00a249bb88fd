/**
 * Hand-written SVG charts for the report: no chart library, nothing to download, drawn at report
 * generation time so the page shows them even with scripts disabled. Each x position carries a
 * transparent hover band with a <title>, so hovering shows that second's values natively.
 * Every series and legend entry carries data-series, which the page's small script uses to
 * toggle a series on legend click.
 */

export interface Series {
  name: string;
  color: string;
  values: readonly number[];
  /** Plot against the right-hand axis (line charts only). */
  right?: boolean;
  dashed?: boolean;
}

export interface Limit {
  value: number;
  label: string;
  color: string;
  right?: boolean;
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

/** A "nice" axis maximum and tick step covering `max` (1, 2, 2.5, 5 × 10^k). */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return { max: Math.ceil(max / step - 1e-9) * step, step };
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
  const ys = niceScale(yMax);
  const y2s = niceScale(y2Max);
  const sx = (x: number) => M.left + (x / xMax) * PW;
  const sy = (y: number) => M.top + PH - (y / ys.max) * PH;
  const sy2 = (y: number) => M.top + PH - (y / y2s.max) * PH;
  const body: string[] = [];
  for (let v = 0; v <= ys.max + 1e-9; v += ys.step) {
    body.push(
      `<line class="grid" x1="${M.left}" x2="${M.left + PW}" y1="${r(sy(v))}" y2="${r(sy(v))}"/>`,
      `<text class="tick" x="${M.left - 6}" y="${r(sy(v) + 4)}" text-anchor="end">${num(v)}</text>`,
    );
  }
  if (spec.y2Label) {
    for (let v = 0; v <= y2s.max + 1e-9; v += y2s.step) {
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

/** Lines over time; series with `right` use the right-hand axis. */
export function lineChart(spec: ChartSpec): string {
  const maxOf = (right: boolean) =>
    Math.max(
      0,
      ...spec.series.filter((s) => Boolean(s.right) === right).flatMap((s) => s.values),
      ...(spec.limits ?? []).filter((l) => Boolean(l.right) === right).map((l) => l.value),
    );
  const f = frame(spec, maxOf(false), maxOf(true));
  for (const l of spec.limits ?? []) {
    const y = r((l.right ? f.sy2 : f.sy)(l.value));
    // Left-axis limits are labelled on the left, right-axis ones on the right, so they never collide.
    const label = l.right
      ? `<text class="tick" x="${M.left + PW - 4}" y="${Number(y) - 4}" text-anchor="end" fill="${l.color}">${escapeXml(l.label)}</text>`
      : `<text class="tick" x="${M.left + 4}" y="${Number(y) - 4}" fill="${l.color}">${escapeXml(l.label)}</text>`;
    f.body.push(
      `<line class="limit" x1="${M.left}" x2="${M.left + PW}" y1="${y}" y2="${y}" stroke="${l.color}"/>`,
      label,
    );
  }
  for (const s of spec.series) {
    const sy = s.right ? f.sy2 : f.sy;
    const pts = spec.x.map((x, i) => `${r(f.sx(x))},${r(sy(s.values[i] ?? 0))}`).join(' ');
    f.body.push(
      `<polyline data-series="${escapeXml(s.name)}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts}"/>`,
    );
  }
  f.body.push(hoverBands(spec, f.sx));
  return wrap(spec, f.body.join(''));
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
