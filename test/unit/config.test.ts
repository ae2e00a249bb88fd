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
    [{ RATE_LIMIT_ENABLED: 'yes' }, /RATE_LIMIT_ENABLED must be true or false; got "yes"/],
    [{ RATE_LIMIT_EXEMPT_ADMIN: 'no' }, /RATE_LIMIT_EXEMPT_ADMIN must be true or false/],
    [{ RATE_LIMIT_ALLOW_LOOPBACK: 'on' }, /RATE_LIMIT_ALLOW_LOOPBACK must be true or false/],
    [{ RATE_LIMIT_USER_PER_MINUTE: '0' }, /RATE_LIMIT_USER_PER_MINUTE must be between 1 and/],
    [{ RATE_LIMIT_USER_PER_MINUTE: '10/s' }, /RATE_LIMIT_USER_PER_MINUTE must be a whole number/],
    [{ RATE_LIMIT_IP_PER_MINUTE: '-5' }, /RATE_LIMIT_IP_PER_MINUTE must be between 1 and/],
    [{ RATE_LIMIT_TRUSTED_PROXIES: '10.0.0.0/33' }, /RATE_LIMIT_TRUSTED_PROXIES must be a comma-separated/],
    [{ RATE_LIMIT_TRUSTED_PROXIES: '10.0.0.1,nginx' }, /RATE_LIMIT_TRUSTED_PROXIES .*got "nginx"/],
    [{ RATE_LIMIT_TRUSTED_PROXIES: '10.0.0.1,' }, /RATE_LIMIT_TRUSTED_PROXIES .*got ""/],
  ])('rejects %o with a sentence naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('limits every user and address by default, admin routes exempt, loopback not', () => {
    expect(loadConfig({})).toMatchObject({
      rateLimitEnabled: true,
      rateLimitUserPerMinute: 600,
      rateLimitIpPerMinute: 6000,
      rateLimitExemptAdmin: true,
      rateLimitAllowLoopback: false,
      rateLimitTrustedProxies: [],
    });
  });

  it('reads the rate-limit variables', () => {
    const c = loadConfig({
      RATE_LIMIT_ENABLED: 'false',
      RATE_LIMIT_USER_PER_MINUTE: '30',
      RATE_LIMIT_IP_PER_MINUTE: '300',
      RATE_LIMIT_EXEMPT_ADMIN: 'false',
      RATE_LIMIT_ALLOW_LOOPBACK: 'true',
      RATE_LIMIT_TRUSTED_PROXIES: ' 10.0.0.0/8, 192.168.1.7 ,fd00::/8',
    });
    expect(c).toMatchObject({
      rateLimitEnabled: false,
      rateLimitUserPerMinute: 30,
      rateLimitIpPerMinute: 300,
      rateLimitExemptAdmin: false,
      rateLimitAllowLoopback: true,
      rateLimitTrustedProxies: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8'],
    });
  });
});
