/**
 * Creates modules in dependency order, starts them in that order and closes them in reverse.
 * Each module's factory receives only the infra items and services its definition names: a
 * module cannot reach what it did not declare, at compile time (types) and at run time (the
 * objects it is handed have nothing else on them).
 */
import type { Infra, InfraName } from '../infra/index.js';
import type {
  AnyModuleDefinition,
  HealthCheck,
  ModuleInstance,
  ModuleName,
  ModuleServices,
} from './module.js';

export interface ComposedModule {
  name: ModuleName;
  prefix: string;
  instance: ModuleInstance<unknown>;
}

export interface Composition {
  /** In dependency order. */
  modules: ComposedModule[];
  services: Partial<ModuleServices>;
  /** Starts every module's background work, in dependency order. */
  start(): Promise<void>;
  /** Closes every module in reverse dependency order; errors are reported, not thrown. */
  close(onError: (name: string, err: unknown) => void): Promise<void>;
  /** Every module's health check, by module name. */
  health(): Promise<Record<string, HealthCheck>>;
}

/** Definitions sorted so that each comes after everything it depends on; a cycle or a missing module throws. */
export function dependencyOrder(defs: readonly AnyModuleDefinition[]): AnyModuleDefinition[] {
  const byName = new Map(defs.map((d) => [d.name as string, d]));
  if (byName.size !== defs.length) throw new Error('two modules share a name');
  const out: AnyModuleDefinition[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (d: AnyModuleDefinition, path: string[]) => {
    const s = state.get(d.name);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`module dependency cycle: ${[...path, d.name].join(' → ')}`);
    state.set(d.name, 'visiting');
    for (const dep of d.dependsOn as string[]) {
      const target = byName.get(dep);
      if (!target) throw new Error(`module ${d.name} depends on ${dep}, which is not composed`);
      visit(target, [...path, d.name]);
    }
    state.set(d.name, 'done');
    out.push(d);
  };
  for (const d of defs) visit(d, []);
  return out;
}

function pick<T extends object>(from: T, names: readonly string[], what: string): Partial<T> {
  const out: Partial<T> = {};
  for (const n of names) {
    if (!(n in from)) throw new Error(`${what} has no ${n}`);
    out[n as keyof T] = from[n as keyof T];
  }
  return out;
}

export async function compose(defs: readonly AnyModuleDefinition[], infra: Infra): Promise<Composition> {
  const services: Partial<ModuleServices> = {};
  const modules: ComposedModule[] = [];
  const closeAll = async (onError: (name: string, err: unknown) => void) => {
    for (const m of [...modules].reverse()) {
      await m.instance.close?.().catch((err: unknown) => onError(m.name, err));
    }
  };
  try {
    for (const def of dependencyOrder(defs)) {
      const instance = await def.create({
        infra: pick(infra, def.infra as readonly InfraName[], 'the infra') as Infra,
        modules: pick(
          services,
          def.dependsOn as readonly string[],
          `module ${def.name}'s dependencies`,
        ) as never,
      });
      (services as Record<string, unknown>)[def.name] = instance.service;
      modules.push({ name: def.name, prefix: def.prefix ?? '', instance });
    }
  } catch (err) {
    await closeAll(() => {});
    throw err;
  }

  return {
    modules,
    services,
    async start() {
      for (const m of modules) await m.instance.start?.();
    },
    close: closeAll,
    async health() {
      const checks: Record<string, HealthCheck> = {};
      await Promise.all(
        modules.map(async (m) => {
          if (!m.instance.health) return;
          try {
            checks[m.name] = await m.instance.health();
          } catch (err) {
            checks[m.name] = { status: 'down', detail: (err as Error).message };
          }
        }),
      );
      return checks;
    },
  };
}
