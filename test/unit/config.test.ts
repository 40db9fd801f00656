import { describe, expect, it } from '@jest/globals';

import { parseEnv } from '../../src/config/env.js';
import { ConfigError } from '../../src/config/errors.js';
import { parsePolicy } from '../../src/config/load.js';
import { resolveSecrets } from '../../src/registry/secrets.js';

const minimal = { resources: [{ uri: 'https://api.example', name: 'API', scopes: ['a', 'b'] }] };
const agent = { id: 'a1', name: 'A', owner: 'u1', tier: 2, scopes: ['a'], audiences: ['https://api.example'], auth: { method: 'client_secret_basic', secret_env: 'A1' } };
const users = [{ id: 'u1', name: 'U' }];

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('policy file', () => {
  it('fills documented defaults', () => {
    const policy = parsePolicy(minimal, 't');
    expect(policy.limits).toEqual({
      max_delegation_depth: 3, clock_skew_seconds: 60, max_subject_token_bytes: 8192, approval_ttl_seconds: 600,
      approval_poll_interval_seconds: 5, consent_delegation_ttl_seconds: 2_592_000, enrollment_ttl_seconds: 86_400,
    });
    expect(policy.tiers[1]).toEqual({ max_token_ttl: 300, approval: 'always', review_interval_days: 30 });
    expect(policy.agents).toEqual([]);
  });

  it('requires resources', () => {
    expect(messageOf(() => parsePolicy({}, 'f.yaml'))).toBe('invalid policy file f.yaml:\n  resources = (missing): expected array, received undefined');
  });

  it.each([
    [{ ...agent, tier: 7 }, 'agents[0].tier = 7: expected 1, 2 or 3'],
    [{ ...agent, owner: undefined }, 'agents[0].owner = (missing): expected string, received undefined'],
    [{ ...agent, max_token_ttl: 3600 }, 'agents[0].max_token_ttl = 3600: expected number to be <=900'],
    [{ ...agent, auth: { method: 'private_key_jwt' } }, 'agents[0].auth = {"method":"private_key_jwt"}: expected exactly one of jwks or jwks_uri'],
    [{ ...agent, colour: 'red' }, 'agents[0].colour: unknown key'],
  ])('names the key, the value and what is expected (%#)', (bad, expected) => {
    expect(messageOf(() => parsePolicy({ ...minimal, users, agents: [bad] }, 't'))).toContain(expected);
  });

  it.each([
    [{ users, agents: [{ ...agent, owner: 'ghost' }] }, 'agents[0].owner = "ghost": expected the id of a user in `users`'],
    [{ users, agents: [{ ...agent, audiences: ['https://other.example'] }] }, 'agents[0].audiences[0] = "https://other.example": expected the uri of a resource in `resources`'],
    [{ users, agents: [{ ...agent, scopes: ['zz'] }] }, 'agents[0].scopes[0] = "zz": expected a scope of one of the agent\'s audiences'],
    [{ users, agents: [agent, agent] }, 'agents[1].id = "a1": expected a client_id not used by another client or agent'],
    [{ users, agents: [{ ...agent, may_delegate_to: ['a1'] }] }, 'agents[0].may_delegate_to[0] = "a1": expected the id of another agent in `agents`'],
    [{ delegations: [{ user: 'u9', agent: 'a9', scopes: ['a'], audiences: ['https://api.example'] }] }, 'delegations[0].user = "u9": expected the id of a user in `users`'],
  ])('checks references between sections (%#)', (extra, expected) => {
    expect(messageOf(() => parsePolicy({ ...minimal, ...extra }, 't'))).toContain(expected);
  });
});

describe('environment', () => {
  it('has the documented defaults', () => {
    expect(parseEnv({})).toEqual({
      port: 3000, host: '127.0.0.1', issuer: 'http://localhost:3000', configPath: 'config/mandate.yaml', redisUrl: undefined,
      keysDir: 'keys', adminToken: undefined, workers: 1, production: false, logLevel: 'info', benchSkipAudit: false,
    });
    expect(parseEnv({ PORT: '4000' }).issuer).toBe('http://localhost:4000');
  });

  it.each([
    [{ PORT: '70000' }, 'PORT="70000": expected an integer from 0 to 65535'],
    [{ MANDATE_ISSUER: 'not a url' }, 'MANDATE_ISSUER="not a url": expected an absolute http(s) URL'],
    [{ REDIS_URL: 'http://redis' }, 'REDIS_URL="http://redis": expected a redis:// or rediss:// URL'],
    [{ MANDATE_WORKERS: '4' }, 'MANDATE_WORKERS="4": expected 1 without REDIS_URL'],
    [{ MANDATE_ADMIN_TOKEN: 'short' }, 'MANDATE_ADMIN_TOKEN: expected at least 16 characters (value not shown)'],
    [{ NODE_ENV: 'production', REDIS_URL: 'redis://r:6379', MANDATE_ISSUER: 'https://auth.example.com', MANDATE_ADMIN_TOKEN: 'a'.repeat(31) },
      'MANDATE_ADMIN_TOKEN: expected at least 32 characters when NODE_ENV=production (value not shown)'],
    [{ NODE_ENV: 'production' }, 'REDIS_URL is unset'],
    [{ NODE_ENV: 'production', REDIS_URL: 'redis://r:6379', MANDATE_ISSUER: 'http://auth.example.com' }, 'expected an https: URL when NODE_ENV=production'],
  ])('refuses %o', (env, expected) => {
    expect(messageOf(() => parseEnv(env))).toContain(expected);
  });

  it('never echoes a Redis password', () => {
    expect(messageOf(() => parseEnv({ REDIS_URL: 'http://user:hunter2@redis' }))).not.toContain('hunter2');
  });

  it('allows an http: localhost issuer in production', () => {
    expect(parseEnv({ NODE_ENV: 'production', REDIS_URL: 'redis://r:6379', MANDATE_ISSUER: 'http://localhost:3000' }).production).toBe(true);
  });
});

describe('client secrets', () => {
  const policy = parsePolicy({ ...minimal, users, agents: [agent] }, 't');
  it('come from the environment, with a development default', () => {
    expect(resolveSecrets(policy, { A1: 's3cret' }, false)('a1')).toBe('s3cret');
    expect(resolveSecrets(policy, {}, false)('a1')).toBe('a1-dev-secret');
  });
  it('must be set and long in production', () => {
    expect(messageOf(() => resolveSecrets(policy, {}, true))).toBe('A1 is unset: expected the client secret of a1 when NODE_ENV=production');
    expect(messageOf(() => resolveSecrets(policy, { A1: 'short' }, true))).toContain('expected at least 32 characters');
  });
});
