/**
 * One drill, start to finish: target (embedded server or --target) → scenario setup → load
 * (executor + live progress) → thresholds → generator verdict → audit → cleanup (--cleanup) →
 * summary.json + report.html → stop the embedded server → exit code. Thresholds are bound to
 * metrics before anything starts, so a bad expression costs nothing.
 *
 * Every run has a run tag (run-tag.ts), sent with everything setup creates and kept in the summary.
 * With --cleanup the run's rows are deleted from the target once the audit has read them — also
 * when the run fails after setup began, so a failed rehearsal leaves nothing behind either.
 *
 * Ctrl-C once stops the load gracefully and still audits and reports; twice exits at once (130).
 * A run that fails before its summary is written leaves no empty output folder behind (a
 * non-empty server.log of an embedded server that did not start is kept, and named).
 */
import { mkdirSync, readdirSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { readRunAlerts } from './alerts.js';
import { ApiClient } from './api-client.js';
import type { AuditResult } from './audit.js';
import { ADMIN_TOKEN_HINT, AdminTokenRefusedError, DrillRunError, EXIT } from './errors.js';
import { buildExecutor, maxConcurrentVUs } from './executors/build.js';
import { GeneratorMonitor, type GeneratorWindow, judgeGenerator } from './health.js';
import { LoadClient } from './http.js';
import { builtinMetrics, Registry } from './metrics.js';
import type { DrillOptions } from './options.js';
import { peakVUs } from './profiles.js';
import { Progress, type ProgressFigures, type ProgressStream } from './progress.js';
import { renderReport } from './report/html.js';
import { describeCleanup, newRunTag, type RunCleanup } from './run-tag.js';
import { SCENARIOS } from './scenarios/index.js';
import {
  type DrillSummary,
  metricsBlock,
  renderText,
  rootGroup,
  SUMMARY_TREND_STATS,
  thresholdOutcomes,
} from './summary.js';
import { externalTarget, startEmbeddedTarget, type Target } from './target.js';
import { bindThresholds, evaluateThresholds, parseThreshold } from './thresholds.js';
import { type Sample, Timeline } from './timeline.js';
import { Checks, VirtualUser } from './vu.js';

/** Where the drill writes: process.stdout/stderr, or in-memory streams (tests). */
export interface DrillIo {
  /** The end-of-run summary. */
  stdout: ProgressStream;
  /** Messages and live progress; progress is redrawn in place when this is a terminal. */
  stderr: ProgressStream;
  /** Overrides stderr's isTTY for the progress mode. */
  progressTTY?: boolean;
}

export interface DrillOutcome {
  exitCode: number;
  summary: DrillSummary;
  summaryPath: string;
  reportPath: string;
}

/**
 * The run's output folder, created when first needed. Until the summary is written, discard()
 * removes what the run created: an empty server.log, then the folders mkdir created (if empty).
 */
class OutputDir {
  private firstCreated: string | undefined;
  private made = false;
  written = false;

  constructor(readonly dir: string) {}

  file(name: string): string {
    if (!this.made) {
      this.firstCreated = mkdirSync(this.dir, { recursive: true });
      this.made = true;
    }
    return path.join(this.dir, name);
  }

  /** Removes what this run created, unless the summary was written; returns a kept server.log. */
  discard(): string | undefined {
    if (this.written || !this.firstCreated) return undefined;
    const log = path.join(this.dir, 'server.log');
    let kept: string | undefined;
    try {
      if (statSync(log).size === 0) unlinkSync(log);
      else kept = log;
    } catch {
      // no server.log
    }
    for (let d = this.dir; ; d = path.dirname(d)) {
      try {
        if (readdirSync(d).length) break;
        rmdirSync(d);
      } catch {
        break;
      }
      if (d === this.firstCreated || path.dirname(d) === d) break;
    }
    return kept;
  }
}

function exitFor(audit: AuditResult, generatorValid: boolean, thresholdsOk: boolean): [number, string] {
  if (audit.verdict !== 'PASS') return [EXIT.AUDIT_FAILED, 'AUDIT FAILED'];
  if (!generatorValid) return [EXIT.GENERATOR_SATURATED, 'INVALID: the load generator was saturated'];
  if (!thresholdsOk) return [EXIT.THRESHOLDS_FAILED, 'THRESHOLDS FAILED'];
  return [EXIT.OK, 'PASS'];
}

function capacityNote(
  model: 'closed' | 'open',
  peak: number,
  rate: number | undefined,
  dropped: number,
  maxVUs: number,
): string {
  if (model === 'closed') {
    return (
      `closed model: req/s is what ${peak} looping VUs produced, NOT the server's capacity — a slower server ` +
      'slows the senders instead of showing up as latency. Use --executor ramping-arrival-rate to measure latency at a given arrival rate.'
    );
  }
  return dropped > 0
    ? `open model: ${rate} it/s were scheduled; ${dropped} iterations were dropped because all ${maxVUs} VUs were busy — the target did not keep up.`
    : `open model: ${rate} it/s were offered on schedule with no drops; latencies are measured from each iteration's scheduled start.`;
}

export async function runDrill(opts: DrillOptions, io: DrillIo): Promise<DrillOutcome> {
  const out = new OutputDir(opts.outDir);
  try {
    return await drill(opts, io, out);
  } catch (err) {
    const kept = out.discard();
    if (kept && err instanceof DrillRunError) {
      throw new DrillRunError(`${err.message}\n(the server's output is in ${kept})`);
    }
    throw err;
  }
}

function adminTokenRefused(opts: DrillOptions, err: AdminTokenRefusedError): DrillRunError {
  if (!opts.target) {
    return new DrillRunError(
      `${err.message}: the embedded server did not accept the token it wrote to its DATA_DIR/admin-token`,
    );
  }
  const from =
    opts.adminTokenSource && opts.adminTokenSource !== '--admin-token'
      ? ` (the one used came from ${opts.adminTokenSource})`
      : '';
  return new DrillRunError(
    `${err.message}: pass the ADMIN_TOKEN of ${opts.target} with --admin-token T${from}; ${ADMIN_TOKEN_HINT}`,
  );
}

async function drill(opts: DrillOptions, io: DrillIo, out: OutputDir): Promise<DrillOutcome> {
  let progress: Progress | null = null;
  const log = (m: string) => {
    if (progress) progress.print(m);
    else io.stderr.write(`${m}\n`);
  };
  const registry = new Registry();
  const metrics = builtinMetrics(registry);
  const scenario = SCENARIOS[opts.scenario](registry);
  const thresholds = opts.thresholds ?? scenario.defaultThresholds.map(parseThreshold);
  const bound = bindThresholds(thresholds, registry);
  const thinkTime = opts.thinkTime ?? scenario.defaultThinkTime;
  const executor = buildExecutor(opts, thinkTime);
  const peak = peakVUs(opts.profile);

  let target: Target;
  if (opts.target) {
    target = await externalTarget(opts.target, opts.adminToken ?? '', opts.databaseUrl);
  } else {
    log('starting an embedded stampede server for this run...');
    target = await startEmbeddedTarget(out.file('server.log'));
    if (opts.databaseUrl) target.databaseUrl = opts.databaseUrl;
    log(`embedded server ready at ${target.baseUrl}`);
  }

  const stop = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      log('SIGINT: stopping the load gracefully; the audit and report still run (Ctrl-C again to quit now)');
      stop.abort();
    } else {
      process.exit(EXIT.INTERRUPTED);
    }
  };
  process.on('SIGINT', onSigint);

  const runTag = newRunTag();
  log(
    `run tag ${runTag}: everything this run creates carries it${
      opts.cleanup
        ? '; --cleanup deletes it at the end'
        : ` (delete it with DELETE /api/v1/admin/runs/${runTag}, or run with --cleanup)`
    }`,
  );
  const api = new ApiClient(target.baseUrl);
  let setupStarted = false;
  let cleanup: RunCleanup | undefined;
  /** DELETE /api/v1/admin/runs/:runTag, once; never throws (a failure is reported, not fatal). */
  const cleanUp = async (): Promise<RunCleanup> => {
    if (cleanup) return cleanup;
    try {
      const res = await api.call('DELETE', `/api/v1/admin/runs/${runTag}`, { token: target.adminToken });
      const body = res.json as {
        deleted?: Record<string, number>;
        returned?: Record<string, number>;
        kept?: Record<string, number>;
      } | null;
      if (res.status === 200 && body?.deleted)
        cleanup = { ok: true, deleted: body.deleted, returned: body.returned ?? {}, kept: body.kept ?? {} };
      else if (res.status === 404) cleanup = { ok: true, deleted: {}, returned: {}, kept: {} };
      else
        cleanup = {
          ok: false,
          error: `DELETE /api/v1/admin/runs/${runTag} answered ${res.status}${res.code ? ` ${res.code}` : ''}`,
        };
    } catch (err) {
      cleanup = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    log(describeCleanup(cleanup));
    return cleanup;
  };
  const timeline = new Timeline();
  const client = new LoadClient(
    { baseUrl: target.baseUrl, connections: maxConcurrentVUs(opts), timeoutMs: opts.timeoutMs },
    metrics,
    timeline,
  );
  try {
    try {
      setupStarted = true;
      await scenario.setup({
        api,
        adminToken: target.adminToken,
        runTag,
        params: opts.params,
        peakVUs: peak,
        seed: opts.seed,
        log,
      });
    } catch (err) {
      if (err instanceof AdminTokenRefusedError) throw adminTokenRefused(opts, err);
      throw err;
    }

    const checks = new Checks(metrics.checks);
    const monitor = new GeneratorMonitor();
    const windows: GeneratorWindow[] = [];
    const live = new Progress(io.stderr, {
      enabled: !opts.quiet,
      isTTY: io.progressTTY,
      plannedSec: executor.plannedDurationMs / 1_000,
      business: scenario.businessCounters,
      open: executor.model === 'open',
    });
    const counterNames = [
      ...scenario.businessCounters.map((b) => b.metric),
      'dropped_iterations',
      'iterations',
    ];
    let iterationErrors = 0;
    let firstIterationError: string | undefined;
    /** The cumulative counters the timeline and the progress line show, as they stand. */
    const countersNow = (): Record<string, number> => {
      const counters: Record<string, number> = {};
      for (const n of counterNames) {
        const m = registry.get(n);
        counters[n] = m && m.sink.type === 'counter' ? m.sink.count : 0;
      }
      counters.http_req_failed =
        metrics.httpReqFailed.sink.type === 'rate' ? metrics.httpReqFailed.sink.passes : 0;
      return counters;
    };
    const sample = (t: number) => {
      const st = executor.status();
      metrics.vus.add(st.active);
      metrics.vusMax.add(st.allocated);
      const gen = monitor.sample();
      windows.push(gen);
      return timeline.close(t, st, countersNow(), gen);
    };
    const figures = (s: Sample): ProgressFigures => ({
      t: s.t,
      vus: s.vus,
      vusMax: s.vusMax,
      rps: s.rps,
      p95: s.p95,
      errors: s.counters.http_req_failed ?? 0,
      counters: s.counters,
    });
    // The span since the previous plain line: its own rate and p95, the latest VUs and counters.
    const since = (last: ProgressFigures) => (): ProgressFigures => {
      const p = timeline.period();
      return { ...last, rps: p.rps, p95: p.p95 };
    };

    log(
      `running ${scenario.name}: profile ${opts.profile.name} (${opts.profile.description}), ${executor.kind}, ` +
        `${(executor.plannedDurationMs / 1_000).toFixed(0)} s + up to ${opts.gracefulStopMs / 1_000} s graceful stop`,
    );
    if (!opts.quiet && !live.tty) {
      log(
        `progress: a line every ${live.plainEverySec} s (req/s and p95 over that interval; errors and counters so far)`,
      );
    }
    progress = live;
    const startedWall = new Date();
    const loadStart = performance.now();
    monitor.start();
    const interval = setInterval(() => {
      const f = figures(sample((performance.now() - loadStart) / 1_000));
      live.update(f, since(f));
    }, 1_000);
    const report = await executor.run({
      iteration: (vu) => scenario.iteration(vu),
      newVu: (id) => new VirtualUser(id, client, checks, opts.seed),
      metrics,
      stop: stop.signal,
      onIterationError: (err) => {
        iterationErrors++;
        if (!firstIterationError) {
          firstIterationError = err instanceof Error ? err.message : String(err);
          log(`iteration error (reported once): ${firstIterationError}`);
        }
      },
    });
    clearInterval(interval);
    const loadEnd = performance.now();
    const lastT = (loadEnd - loadStart) / 1_000;
    const final =
      timeline.samples.length === 0 || lastT - timeline.samples[timeline.samples.length - 1].t > 0.2
        ? sample(lastT)
        : timeline.samples[timeline.samples.length - 1];
    monitor.stop();
    // The last line shows the final counts and the time the load ended, even when the last sample
    // closed just before the end (it said 2s/3s 99% on a busy machine).
    const counters = countersNow();
    const f = { ...figures(final), t: lastT, counters, errors: counters.http_req_failed };
    live.done(f, since(f));
    progress = null;
    await client.destroy();

    const durationSec = (report.endedAt - report.startedAt) / 1_000;
    const thresholdResults = evaluateThresholds(bound, durationSec);
    const thresholdsOk = thresholdResults.every((t) => t.ok);
    const generator = judgeGenerator(windows);

    let audit: AuditResult;
    try {
      audit = await scenario.audit({
        api,
        adminToken: target.adminToken,
        databaseUrl: target.databaseUrl,
        log,
        loadEndedAt: loadEnd,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      audit = {
        verdict: 'FAIL',
        checks: [
          {
            name: 'audit_completed',
            ok: false,
            expected: 'completed',
            actual: 'error',
            detail: message,
            source: 'api',
          },
        ],
        facts: {},
        notes: [],
      };
    }

    const alerts = await readRunAlerts(api, target.adminToken, startedWall, new Date());

    if (opts.cleanup) await cleanUp();

    const warnings: string[] = [];
    if (alerts === null)
      warnings.push(
        "the target's alerts could not be read (GET /api/v1/admin/alerts): the report marks none.",
      );
    if (cleanup && !cleanup.ok) {
      warnings.push(
        `--cleanup could not delete this run's data (${cleanup.error}); delete it with DELETE /api/v1/admin/runs/${runTag}.`,
      );
    }
    const load429 = timeline.samples.reduce((n, x) => n + (x.status['429'] ?? 0), 0);
    if (load429 > 0) {
      warnings.push(
        `the target answered 429 (rate limited) to ${load429} requests of the load: every VU sends from this ` +
          "machine's address, so a per-address limit throttles the drill itself, not the crowd it stands for. " +
          'Drill a server started with RATE_LIMIT_ALLOW_LOOPBACK=true (from the same machine) or a higher RATE_LIMIT_IP_PER_MINUTE.',
      );
    }
    if (api.rateLimited > 0) {
      warnings.push(
        `setup and audit were rate limited ${api.rateLimited} times (429) and waited as Retry-After asked.`,
      );
    }

    const [exitCode, exitReason] = exitFor(audit, generator.valid, thresholdsOk);
    const dropped =
      metrics.droppedIterations.sink.type === 'counter' ? metrics.droppedIterations.sink.count : 0;
    const described = executor.describe();
    const summary: DrillSummary = {
      root_group: rootGroup(checks.byName),
      options: {
        summaryTrendStats: [...SUMMARY_TREND_STATS],
        summaryTimeUnit: 'ms',
        noColor: !io.stdout.isTTY,
      },
      state: {
        isStdOutTTY: Boolean(io.stdout.isTTY),
        isStdErrTTY: Boolean(io.stderr.isTTY),
        testRunDurationMs: Math.round(durationSec * 1_000),
      },
      metrics: metricsBlock(registry, durationSec, thresholdResults),
      setup_data: scenario.describeSetup(),
      stampede: {
        scenario: scenario.name,
        description: scenario.description,
        profile: { name: opts.profile.name, description: opts.profile.description },
        executor: described,
        model: executor.model,
        target: { url: target.baseUrl, embedded: target.embedded },
        runTag,
        ...(cleanup ? { cleanup } : {}),
        startedAt: startedWall.toISOString(),
        finishedAt: new Date().toISOString(),
        capacityNote: capacityNote(
          executor.model,
          peak,
          opts.executor === 'ramping-arrival-rate' ? (opts.rate ?? peak) : undefined,
          dropped,
          maxConcurrentVUs(opts),
        ),
        stoppedEarly: report.stoppedEarly,
        iterationErrors,
        firstIterationError,
        businessCounters: [...scenario.businessCounters],
        thinkTime: executor.model === 'closed' ? thinkTime : undefined,
        thresholds: thresholdOutcomes(thresholdResults),
        alerts: alerts ?? [],
        warnings,
        thresholdsOk,
        exitCode,
        exitReason,
      },
      generator: { ...generator, verdict: generator.valid ? 'VALID' : 'INVALID' },
      timeline: timeline.samples,
      audit,
    };
    const summaryPath = out.file('summary.json');
    const reportPath = out.file('report.html');
    writeFileSync(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
    out.written = true;
    writeFileSync(reportPath, renderReport(summary));
    io.stdout.write(renderText(summary, { summary: summaryPath, report: reportPath }));
    return { exitCode, summary, summaryPath, reportPath };
  } catch (err) {
    // A run that fails after setup began may have created rows: --cleanup still removes them.
    if (opts.cleanup && setupStarted && !(err instanceof AdminTokenRefusedError)) await cleanUp();
    if (err instanceof DrillRunError) throw err;
    throw new DrillRunError(err instanceof Error ? (err.stack ?? err.message) : String(err));
  } finally {
    progress = null;
    process.off('SIGINT', onSigint);
    await client.close().catch(() => {});
    await api.close().catch(() => {});
    if (target.embedded) log('stopping the embedded server...');
    await target.stop();
  }
}
