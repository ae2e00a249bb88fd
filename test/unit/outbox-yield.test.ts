/**
 * The relay yields its database work to a busy hot path, but never for longer than maxYieldMs in a
 * row, and once it has waited that long it catches up completely before yielding again: delivery
 * lag stays bounded however long a spike lasts.
 */
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/infra/metrics.js';
import { OutboxRelay, type RelayOptions } from '../../src/modules/outbox/relay.js';

class ScriptedRelay extends OutboxRelay {
  passes: number[] = [];
  /** Chunks waiting; each pass takes one and says whether more are waiting. */
  backlog = 0;
  constructor(opts: RelayOptions) {
    const none = null as never;
    super(
      none,
      none,
      none,
      none,
      null,
      new Metrics(),
      pino({ level: 'silent' }) as unknown as FastifyBaseLogger,
      opts,
    );
  }
  override async localPass(): Promise<boolean> {
    this.passes.push(Date.now());
    if (this.backlog > 0) this.backlog -= 1;
    return this.backlog > 0;
  }
  override async webhookPass(): Promise<boolean> {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('outbox relay under a busy hot path', () => {
  it('runs passes while the hot path is idle', async () => {
    const relay = new ScriptedRelay({
      pollMs: 10,
      retryBaseMs: 10,
      retryMaxMs: 10,
      hotPathBusy: () => false,
    });
    relay.start();
    await sleep(100);
    await relay.stop();
    expect(relay.passes.length).toBeGreaterThan(3);
  });

  it('yields while busy, for at most maxYieldMs, then drains the whole backlog before yielding again', async () => {
    let busy = true;
    const relay = new ScriptedRelay({
      pollMs: 10,
      retryBaseMs: 10,
      retryMaxMs: 10,
      hotPathBusy: () => busy,
      maxYieldMs: 300,
    });
    relay.backlog = 50;
    const started = Date.now();
    relay.start();
    await sleep(150);
    expect(relay.passes).toHaveLength(0); // yielding to the spike
    await sleep(400);
    // Past maxYieldMs it caught up completely even though the spike goes on.
    expect(relay.passes.length).toBeGreaterThanOrEqual(50);
    expect(relay.backlog).toBe(0);
    expect(relay.passes[0] - started).toBeGreaterThanOrEqual(290);
    expect(relay.passes[0] - started).toBeLessThan(2_000);
    // Still busy: from now on it runs at most one catch-up per window, never polls freely.
    const mark = relay.passes.length;
    await sleep(1_000);
    const later = relay.passes.slice(mark);
    expect(later.length).toBeGreaterThanOrEqual(1);
    expect(later.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < later.length; i++) expect(later[i] - later[i - 1]).toBeGreaterThanOrEqual(290);
    busy = false;
    relay.backlog = 5;
    await sleep(100);
    expect(relay.backlog).toBe(0); // idle hot path: no waiting
    await relay.stop();
  });
});
