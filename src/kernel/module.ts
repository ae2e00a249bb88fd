/**
 * The module contract: every `src/modules/<name>/index.ts` exports one definition made with
 * `defineModule`. A definition names the module, the infrastructure it uses and the modules it
 * depends on, and a factory that returns what it gives:
 *
 *   service   what other modules may call (registered in `ModuleServices` under the module's name)
 *   routes    an encapsulated Fastify plugin, mounted under `prefix`; it closes over the service
 *   start     background loops, started in dependency order once the process serves
 *   close     stops loops and flushes pending work, called in reverse dependency order
 *   health    one check for /readyz and the live view
 *
 * The factory sees only the infra and the services it named (compose.ts hands out exactly those),
 * so a module's needs are written in one place and checked by the compiler.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Infra, InfraName } from '../infra/index.js';

/**
 * The services modules give each other, by module name. Each module adds its entry with
 * `declare module '../../kernel/module.js' { interface ModuleServices { name: Service } }`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by declaration merging in each module
export interface ModuleServices {}

export type ModuleName = keyof ModuleServices;

export interface HealthCheck {
  /** up: serving normally · degraded: serving on a fallback · down: cannot serve its writes. */
  status: 'up' | 'degraded' | 'down';
  detail?: string;
}

export interface ModuleInstance<S> {
  service: S;
  routes?: FastifyPluginAsyncTypebox;
  start?(): void | Promise<void>;
  close?(): Promise<void>;
  health?(): HealthCheck | Promise<HealthCheck>;
}

export interface ModuleContext<I extends InfraName, D extends ModuleName> {
  infra: Pick<Infra, I>;
  modules: Pick<ModuleServices, D>;
}

export interface ModuleDefinition<
  N extends ModuleName = ModuleName,
  I extends InfraName = InfraName,
  D extends ModuleName = ModuleName,
> {
  name: N;
  /** Infra this module uses; nothing else of the infra is visible to it. */
  infra: readonly I[];
  /** Modules whose services this one calls; they are created (and started) before it. */
  dependsOn: readonly D[];
  /** URL prefix of the module's routes (e.g. '/api/v1'). */
  prefix?: string;
  create(
    ctx: ModuleContext<I, D>,
  ): ModuleInstance<ModuleServices[N]> | Promise<ModuleInstance<ModuleServices[N]>>;
}

/** Declares a module; the identity function that lets TypeScript check the pieces against each other. */
export function defineModule<N extends ModuleName, I extends InfraName = never, D extends ModuleName = never>(
  def: ModuleDefinition<N, I, D>,
): ModuleDefinition<N, I, D> {
  return def;
}

/** A module definition of any shape, as the composition root handles them. */
// biome-ignore lint/suspicious/noExplicitAny: the root handles definitions generically; each is checked where it is defined
export type AnyModuleDefinition = ModuleDefinition<ModuleName, InfraName, any>;
