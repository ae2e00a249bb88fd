/**
 * Environment → typed configuration, read once and validated at start.
 * A bad value throws a ConfigError whose message names the variable and what is allowed.
 */
import { isIP } from 'node:net';
import path from 'node:path';

export type Mode = 'embedded' | 'cluster';

export interface Config {
  mode: Mode;
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  adminToken?: string;
  jwtSecret?: string;
  logLevel: string;
  /** Max rows per group-commit transaction. */
  commitMaxBatch: number;
  /** How long a batch may wait for company before it is flushed, in ms. */
  commitMaxWaitMs: number;
  /** Group-commit transactions in flight per coupon (each holds one PG connection). */
  commitConcurrency: number;
  /** PostgreSQL pool size. */
  pgPoolMax: number;
  /** A pending gate reservation older than this is reconciled against PostgreSQL, in ms. */
  reconcileAfterMs: number;
  /** Period of the reconciler loop, in ms. */
  reconcileIntervalMs: number;
  /**
   * How often every open waiting-room entry stream is re-read (a heartbeat, and its position), ms.
   * Admissions do not wait for it: they are pushed through pub/sub; this pass is also what delivers
   * an admission whose message was lost.
   */
  waitingRoomStreamPumpMs: number;
  /** Max JSON body size in bytes. */
  bodyLimit: number;
  /** Key prefix for Redis keys, so several deployments (or test runs) can share a server. */
  redisPrefix: string;
  /** Reconciler and other background loops run in this process. */
  runBackground: boolean;
  /** Data-platform webhook the outbox relay POSTs events to; unset = webhook delivery off. */
  dataPlatformUrl?: string;
  /** Receives every alert of the live view when it fires and when it resolves (POST JSON). */
  alertWebhookUrl?: string;
  /**
   * Where OpenTelemetry spans go, from the standard OTEL_* variables (see tracesExporter below);
   * null: tracing off, the default.
   */
  tracesExporter: 'otlp' | 'console' | null;
  /** Burn-rate alert windows are divided by this (1: the SRE workbook's hours and days). */
  alertWindowScale: number;
  /** Below this many requests a second, anomaly rules neither learn nor fire. */
  alertMinRps: number;
  /** Period of the outbox relay loop when it found nothing to do, in ms. */
  outboxPollMs: number;
  /** First webhook retry delay, doubled per failed attempt, in ms. */
  outboxRetryBaseMs: number;
  /** Cap on the webhook retry delay, in ms. */
  outboxRetryMaxMs: number;
  /** Timeout of one webhook POST, in ms. */
  outboxWebhookTimeoutMs: number;
  /** Longest the outbox relay defers its work while the hot path is busy, in ms. */
  outboxMaxYieldMs: number;
  /** Concurrent order group-commit transactions. Orders of one batch share hot rows (products), so
   * concurrent batches mostly wait on each other's locks; one at a time makes the largest batches. */
  orderCommitConcurrency: number;
  /** How long a seat hold lasts before it blocks nobody and can no longer be paid, in seconds. */
  holdSeconds: number;
  /** Rate limits on the /api routes are enforced (false: no request is ever limited). */
  rateLimitEnabled: boolean;
  /** Requests one user (the bearer token's user, on user routes) may send per minute. */
  rateLimitUserPerMinute: number;
  /** Requests one client address may send per minute, whoever it authenticates as. */
  rateLimitIpPerMinute: number;
  /** Admin routes (`access: 'admin'`) are not rate-limited. */
  rateLimitExemptAdmin: boolean;
  /** Requests from a loopback address (127.0.0.0/8, ::1) are not rate-limited. */
  rateLimitAllowLoopback: boolean;
  /**
   * Addresses and CIDR ranges of reverse proxies whose X-Forwarded-For is believed when the rate
   * limiter picks the client address; empty = the TCP peer is the client (the header is ignored).
   */
  rateLimitTrustedProxies: readonly string[];
  /** Chat messages one user may send per minute (WebSocket and REST together); RATE_LIMITED over it. */
  chatMessagesPerMinute: number;
  /** Largest chat WebSocket frame a client may send, bytes; a larger one is refused with an error frame. */
  chatMaxFrameBytes: number;
  /** Unsent bytes a chat socket may queue; past it the reader is too slow and is closed (4008). */
  chatMaxBufferedBytes: number;
  /** Chat sockets are pinged this often, ms; one that has not answered the previous ping is ended. */
  chatPingIntervalMs: number;
  /** Chat presence beat, ms (cluster mode): a process's users stay online 3 beats past its last one. */
  chatPresenceBeatMs: number;
}

/** The rate-limit settings a config without them (a programmatic one) gets. */
export const RATE_LIMIT_DEFAULTS = {
  rateLimitEnabled: true,
  rateLimitUserPerMinute: 600,
  rateLimitIpPerMinute: 6000,
  rateLimitExemptAdmin: true,
  rateLimitAllowLoopback: false,
  rateLimitTrustedProxies: [],
} as const satisfies Partial<Config>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a whole number between ${min} and ${max}; got "${raw}".`);
  }
  const n = Number(raw);
  if (n < min || n > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}; got ${n}.`);
  }
  return n;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL (${protocols.join(' or ')}); got "${raw}".`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.join(' or ')}; got "${parsed.protocol}".`);
  }
  return raw;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(`${name} must be true or false; got "${raw}".`);
}

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

/**
 * Tracing is off unless the standard OpenTelemetry variables ask for it: OTEL_TRACES_EXPORTER=otlp
 * or console, or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT) without an
 * exporter named; OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off. The SDK reads
 * the rest itself (sampler, endpoint, headers, batch sizes); the values it would only log about
 * are refused here with a sentence instead.
 */
function tracesExporter(env: Env): 'otlp' | 'console' | null {
  if (bool(env, 'OTEL_SDK_DISABLED', false)) return null;
  const sampler = env.OTEL_TRACES_SAMPLER?.trim();
  if (sampler && !SAMPLERS.includes(sampler)) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER must be one of ${SAMPLERS.join(', ')}; got "${sampler}".`);
  }
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (arg && !(Number(arg) >= 0 && Number(arg) <= 1)) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1; got "${arg}".`);
  }
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']) {
    const v = env[name]?.trim();
    if (v && v !== 'http/json') {
      throw new ConfigError(`${name}: stampede exports OTLP as http/json only; got "${v}".`);
    }
  }
  const named = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  for (const v of named) {
    if (!['otlp', 'console', 'none'].includes(v)) {
      throw new ConfigError(`OTEL_TRACES_EXPORTER must be otlp, console or none; got "${v}".`);
    }
  }
  if (named.includes('none')) return null;
  if (named.includes('otlp')) return 'otlp';
  if (named.includes('console')) return 'console';
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return endpoint ? 'otlp' : null;
}

/** A comma-separated list of IP addresses and CIDR ranges (`10.0.0.0/8`, `fd00::/8`). */
function addressList(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((part) => {
    const entry = part.trim();
    const [address, bits, ...rest] = entry.split('/');
    const family = isIP(address ?? '');
    const prefixOk =
      bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (!family || !prefixOk || rest.length > 0) {
      throw new ConfigError(
        `${name} must be a comma-separated list of IP addresses or CIDR ranges (e.g. 10.0.0.0/8); got "${entry}".`,
      );
    }
    return entry;
  });
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const redisUrl = url(env, 'REDIS_URL', ['redis:', 'rediss:']);
  if (Boolean(databaseUrl) !== Boolean(redisUrl)) {
    throw new ConfigError(
      'Cluster mode needs both DATABASE_URL and REDIS_URL; set both (cluster) or neither (embedded).',
    );
  }
  const mode: Mode = databaseUrl ? 'cluster' : 'embedded';
  const adminToken = env.ADMIN_TOKEN || undefined;
  const jwtSecret = env.JWT_SECRET || undefined;
  if (mode === 'cluster') {
    if (!adminToken) throw new ConfigError('ADMIN_TOKEN is required in cluster mode.');
    if (!jwtSecret) throw new ConfigError('JWT_SECRET is required in cluster mode.');
  }
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('ADMIN_TOKEN must be at least 16 characters long.');
  }
  if (jwtSecret !== undefined && jwtSecret.length < 32) {
    throw new ConfigError('JWT_SECRET must be at least 32 characters long.');
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got "${logLevel}".`);
  }
  const redisPrefix = env.REDIS_PREFIX ?? 'stampede:';
  if (!/^[A-Za-z0-9:_.-]{0,64}$/.test(redisPrefix)) {
    throw new ConfigError('REDIS_PREFIX may hold only letters, digits and : _ . - (at most 64).');
  }
  return {
    mode,
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '127.0.0.1',
    dataDir: path.resolve(env.DATA_DIR || './.data'),
    databaseUrl,
    redisUrl,
    adminToken,
    jwtSecret,
    logLevel,
    commitMaxBatch: int(env, 'COMMIT_MAX_BATCH', 500, 1, 10_000),
    commitMaxWaitMs: int(env, 'COMMIT_MAX_WAIT_MS', 1, 0, 1000),
    commitConcurrency: int(env, 'COMMIT_CONCURRENCY', 1, 1, 64),
    pgPoolMax: int(env, 'PG_POOL_MAX', 20, 2, 500),
    reconcileAfterMs: int(env, 'RECONCILE_AFTER_MS', 30_000, 100, 3_600_000),
    reconcileIntervalMs: int(env, 'RECONCILE_INTERVAL_MS', 2_000, 50, 3_600_000),
    waitingRoomStreamPumpMs: int(env, 'WAITING_ROOM_STREAM_PUMP_MS', 500, 100, 60_000),
    bodyLimit: int(env, 'BODY_LIMIT', 1_048_576, 1024, 64 * 1_048_576),
    redisPrefix,
    runBackground: (env.RUN_BACKGROUND ?? 'true') !== 'false',
    dataPlatformUrl: url(env, 'DATA_PLATFORM_URL', ['http:', 'https:']),
    alertWebhookUrl: url(env, 'ALERT_WEBHOOK_URL', ['http:', 'https:']),
    tracesExporter: tracesExporter(env),
    alertWindowScale: int(env, 'ALERT_WINDOW_SCALE', 1, 1, 100_000),
    alertMinRps: int(env, 'ALERT_MIN_RPS', 5, 0, 1_000_000),
    outboxPollMs: int(env, 'OUTBOX_POLL_MS', 200, 10, 60_000),
    outboxRetryBaseMs: int(env, 'OUTBOX_RETRY_BASE_MS', 500, 10, 3_600_000),
    outboxRetryMaxMs: int(env, 'OUTBOX_RETRY_MAX_MS', 60_000, 10, 86_400_000),
    outboxWebhookTimeoutMs: int(env, 'OUTBOX_WEBHOOK_TIMEOUT_MS', 5_000, 100, 60_000),
    outboxMaxYieldMs: int(env, 'OUTBOX_MAX_YIELD_MS', 5_000, 0, 600_000),
    orderCommitConcurrency: int(env, 'ORDER_COMMIT_CONCURRENCY', 1, 1, 64),
    holdSeconds: int(env, 'HOLD_SECONDS', 300, 1, 86_400),
    rateLimitEnabled: bool(env, 'RATE_LIMIT_ENABLED', RATE_LIMIT_DEFAULTS.rateLimitEnabled),
    rateLimitUserPerMinute: int(
      env,
      'RATE_LIMIT_USER_PER_MINUTE',
      RATE_LIMIT_DEFAULTS.rateLimitUserPerMinute,
      1,
      1_000_000_000,
    ),
    rateLimitIpPerMinute: int(
      env,
      'RATE_LIMIT_IP_PER_MINUTE',
      RATE_LIMIT_DEFAULTS.rateLimitIpPerMinute,
      1,
      1_000_000_000,
    ),
    rateLimitExemptAdmin: bool(env, 'RATE_LIMIT_EXEMPT_ADMIN', RATE_LIMIT_DEFAULTS.rateLimitExemptAdmin),
    rateLimitAllowLoopback: bool(
      env,
      'RATE_LIMIT_ALLOW_LOOPBACK',
      RATE_LIMIT_DEFAULTS.rateLimitAllowLoopback,
    ),
    rateLimitTrustedProxies: addressList(env, 'RATE_LIMIT_TRUSTED_PROXIES'),
    chatMessagesPerMinute: int(env, 'CHAT_MESSAGES_PER_MINUTE', 120, 1, 1_000_000_000),
    // At most the WebSocket server's own payload limit (64 KiB in src/app.ts), which closes with 1009.
    chatMaxFrameBytes: int(env, 'CHAT_MAX_FRAME_BYTES', 16_384, 256, 65_536),
    chatMaxBufferedBytes: int(env, 'CHAT_MAX_BUFFERED_BYTES', 1_048_576, 1024, 64 * 1_048_576),
    chatPingIntervalMs: int(env, 'CHAT_PING_INTERVAL_MS', 15_000, 100, 600_000),
    chatPresenceBeatMs: int(env, 'CHAT_PRESENCE_BEAT_MS', 5_000, 100, 60_000),
  };
}
