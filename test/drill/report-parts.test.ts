/**
 * The report's pieces without a browser: status colours by class with distinct shades, readable
 * labels for summary.json keys, axes with headroom that share gridlines, and limit labels that
 * step aside from other limit lines.
 */
import { describe, expect, it } from 'vitest';
import { STATUS_COLOR, statusColors } from '../../src/drill/report/colors.js';
import { label, valueText } from '../../src/drill/report/labels.js';
import { alignedAxis, HEADROOM, limitLabelBaseline, valueAxis } from '../../src/drill/report/svg.js';

function rgb(hex: string): [number, number, number] {
  return [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

/** Hue in degrees (0 red, 120 green, 240 blue). */
function hue(hex: string): number {
  const [r, g, b] = rgb(hex).map((v) => v / 255);
  const max = Math.max(r, g, b);
  const d = max - Math.min(r, g, b);
  if (d === 0) return 0;
  const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return (h * 60 + 360) % 360;
}

const distance = (a: string, b: string) => {
  const [x, y] = [rgb(a), rgb(b)];
  return Math.hypot(x[0] - y[0], x[1] - y[1], x[2] - y[2]);
};

describe('status colours', () => {
  it('tell the classes apart by hue: 2xx green, 4xx amber to orange, 5xx red', () => {
    for (const c of ['200', '201', '204']) expect(hue(STATUS_COLOR[c]), c).toBeGreaterThan(90);
    for (const c of ['200', '201', '204']) expect(hue(STATUS_COLOR[c]), c).toBeLessThan(170);
    for (const c of ['400', '401', '402', '403', '404', '409', '410', '429']) {
      expect(hue(STATUS_COLOR[c]), c).toBeGreaterThan(15);
      expect(hue(STATUS_COLOR[c]), c).toBeLessThan(60);
    }
    for (const c of ['500', '502', '503', '504']) {
      const h = hue(STATUS_COLOR[c]);
      expect(h < 10 || h > 350, c).toBe(true);
    }
  });

  it('give codes of one class clearly different shades (200 vs 201, 409 vs 410)', () => {
    expect(distance(STATUS_COLOR['200'], STATUS_COLOR['201'])).toBeGreaterThan(100);
    expect(distance(STATUS_COLOR['409'], STATUS_COLOR['410'])).toBeGreaterThan(80);
    expect(distance(STATUS_COLOR['500'], STATUS_COLOR['503'])).toBeGreaterThan(80);
    const all = Object.values(STATUS_COLOR);
    expect(new Set(all).size).toBe(all.length);
  });

  it('give codes without a fixed shade an unused one of their class', () => {
    const c = statusColors(['200', '201', '202', '206', '409', '418', '599', '0', '101']);
    expect(c['200']).toBe(STATUS_COLOR['200']);
    expect(new Set(Object.values(c)).size).toBe(9);
    expect(hue(c['202'])).toBeGreaterThan(70);
    expect(hue(c['202'])).toBeLessThan(170);
    expect(hue(c['418'])).toBeGreaterThan(15);
    expect(hue(c['418'])).toBeLessThan(60);
  });
});

describe('labels', () => {
  it('reads known keys as sentences and any other camelCase key as words', () => {
    expect(label('usersTried')).toBe('users who tried');
    expect(label('dbRows')).toBe('PostgreSQL: user_coupons rows');
    expect(label('soldUnits')).toBe("units sold (in users' orders)");
    expect(label('dbSomethingNew')).toBe('PostgreSQL: something new');
    expect(label('answered503')).toBe('answered 503');
    expect(label('retryShare')).toBe('retry share');
    expect(valueText(true)).toBe('yes');
    expect(valueText(12)).toBe('12');
  });
});

describe('chart axes and limit labels', () => {
  it('keep headroom above the highest value, and a right axis with as many steps as the left', () => {
    for (const max of [1, 7, 95, 100, 200, 250, 499, 500, 1234, 0.3]) {
      const a = valueAxis(max);
      expect(a.max, String(max)).toBeGreaterThanOrEqual(max * (1 + HEADROOM) - 1e-9);
      expect(a.steps * a.step).toBeCloseTo(a.max, 9);
      for (const other of [3, 60, 100, 550, 0]) {
        const b = alignedAxis(other, a.steps);
        expect(b.steps).toBe(a.steps);
        expect(b.max).toBeGreaterThanOrEqual(other * (1 + HEADROOM) - 1e-9);
        expect(b.step * b.steps).toBeCloseTo(b.max, 9);
      }
    }
    expect(valueAxis(200)).toEqual({ max: 250, step: 50, steps: 5 });
  });

  it('put a label above its line unless another limit line crosses that space', () => {
    expect(limitLabelBaseline(100, [])).toBe(95);
    expect(limitLabelBaseline(100, [200])).toBe(95);
    // A line 9 px above: the label goes below its own line instead.
    expect(limitLabelBaseline(100, [91])).toBe(114);
    // Too close to the top of the plot for a label above.
    expect(limitLabelBaseline(20, [])).toBe(34);
  });
});
