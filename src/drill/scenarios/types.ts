/**
 * A scenario = setup through the admin API, an iteration the VUs repeat, and an audit of the data
 * afterwards. One scenario object serves one run and keeps what it saw (the 201s, the charges)
 * for its audit.
 */
import type { ApiClient } from '../api-client.js';
import type { AuditResult } from '../audit.js';
import type { Registry } from '../metrics.js';
import type { ScenarioParams, ThinkTime } from '../options.js';
import type { VirtualUser } from '../vu.js';

export interface ScenarioContext {
  api: ApiClient;
  adminToken: string;
  /** Sent as `runTag` with everything setup creates (src/drill/run-tag.ts). */
  runTag: string;
  params: ScenarioParams;
  /** Peak VUs of the profile (after --scale), for sizing defaults. */
  peakVUs: number;
  seed: number;
  /** Progress messages during setup and audit (stderr). */
  log(message: string): void;
}

export interface AuditContext {
  api: ApiClient;
  adminToken: string;
  /** PostgreSQL of the target, when known (embedded mode or --database-url). */
  databaseUrl?: string;
  log(message: string): void;
  /** performance.now() of the end of the load, for read-after-lag rules. */
  loadEndedAt: number;
}

export interface BusinessCounter {
  /** k6 counter metric name. */
  metric: string;
  /** Short label for the progress line and the report. */
  label: string;
  /** Chart colour (CSS), matching the status code that usually carries this outcome. */
  color: string;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Used when no --threshold is given. */
  readonly defaultThresholds: readonly string[];
  /** Closed-model pause between iterations when no --think-time is given. */
  readonly defaultThinkTime: ThinkTime;
  /** Business outcomes shown live and in the report, in display order. */
  readonly businessCounters: readonly BusinessCounter[];
  setup(ctx: ScenarioContext): Promise<void>;
  /** What one VU iteration does. */
  iteration(vu: VirtualUser): Promise<void>;
  audit(ctx: AuditContext): Promise<AuditResult>;
  /** What setup created, for the summary (ids, sizes). */
  describeSetup(): Record<string, number | string>;
}

export type ScenarioFactory = (registry: Registry) => Scenario;
