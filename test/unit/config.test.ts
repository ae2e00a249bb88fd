import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('configuration', () => {
  it('defaults to embedded mode on 127.0.0.1:3000', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ mode: 'embedded', port: 3000, host: '127.0.0.1', logLevel: 'info' });
  });

  it('is cluster mode with both DATABASE_URL and REDIS_URL, and then needs the secrets', () => {
    const env = { DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h:6379' };
    expect(() => loadConfig(env)).toThrow(/ADMIN_TOKEN is required/);
    expect(() => loadConfig({ ...env, ADMIN_TOKEN: 'a'.repeat(20) })).toThrow(/JWT_SECRET is required/);
    const c = loadConfig({ ...env, ADMIN_TOKEN: 'a'.repeat(20), JWT_SECRET: 'b'.repeat(40) });
    expect(c.mode).toBe('cluster');
  });

  it.each([
    [{ PORT: 'abc' }, /PORT must be a whole number/],
    [{ PORT: '70000' }, /PORT must be between 0 and 65535/],
    [{ DATABASE_URL: 'mysql://x', REDIS_URL: 'redis://x' }, /DATABASE_URL must start with postgres/],
    [{ DATABASE_URL: 'postgres://x/y' }, /needs both DATABASE_URL and REDIS_URL/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ ADMIN_TOKEN: 'short' }, /ADMIN_TOKEN must be at least 16/],
    [{ COMMIT_MAX_BATCH: '0' }, /COMMIT_MAX_BATCH must be between/],
    [{ REDIS_PREFIX: 'bad prefix!' }, /REDIS_PREFIX/],
  ])('rejects %o with a sentence naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
