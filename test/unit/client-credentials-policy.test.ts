import { describe, expect, it } from '@jest/globals';

import type { Resource } from '../../src/config/policy-schema.js';
import { decideClientCredentials, type ClientCredentialsInput } from '../../src/policy/client-credentials.js';

const travel: Resource = { uri: 'https://travel', name: 'Travel', scopes: ['read', 'book'], high_risk_scopes: [], authorization_details_types: [], max_token_ttl: 300 };
const mail: Resource = { uri: 'https://mail', name: 'Mail', scopes: ['mail'], high_risk_scopes: [], authorization_details_types: [] };
const resources = new Map([travel, mail].map((r) => [r.uri, r]));

const input = (over: Partial<ClientCredentialsInput> = {}): ClientCredentialsInput => ({
  client: { id: 'c', scopes: ['read', 'mail'], audiences: ['https://travel', 'https://mail'] },
  requestedResources: ['https://travel'],
  requestedScopes: [],
  resourceByUri: (uri) => resources.get(uri),
  ...over,
});

const errorOf = (over: Partial<ClientCredentialsInput>): { error: string; error_description: string } => {
  const decision = decideClientCredentials(input(over));
  if (decision.ok) throw new Error('expected a refusal');
  return decision.error.toJSON();
};

describe('decideClientCredentials', () => {
  it('gives client ∩ resource scopes when none are requested, with the resource TTL', () => {
    expect(decideClientCredentials(input())).toEqual({ ok: true, aud: 'https://travel', scopes: ['read'], ttlSeconds: 300 });
  });

  it('defaults to 600 s when the resource sets no bound', () => {
    expect(decideClientCredentials(input({ requestedResources: ['https://mail'] }))).toMatchObject({ ok: true, scopes: ['mail'], ttlSeconds: 600 });
  });

  it('keeps requested scopes as asked, deduplicated', () => {
    expect(decideClientCredentials(input({ requestedScopes: ['read', 'read'] }))).toMatchObject({ ok: true, scopes: ['read'] });
  });

  it('refuses a scope the client has but the resource does not (no widening across resources)', () => {
    expect(errorOf({ requestedScopes: ['mail'] })).toEqual({ error: 'invalid_scope', error_description: 'scope mail is not allowed for client c at https://travel' });
  });

  it('refuses a scope the resource has but the client does not', () => {
    expect(errorOf({ requestedScopes: ['read', 'book'] })).toEqual({ error: 'invalid_scope', error_description: 'scope book is not allowed for client c at https://travel' });
  });

  it('refuses when the client has no scope at the resource', () => {
    expect(errorOf({ client: { id: 'c', scopes: ['mail'], audiences: ['https://travel'] } }))
      .toEqual({ error: 'invalid_scope', error_description: 'client c has no scope at https://travel' });
  });

  it.each([
    [{ requestedResources: ['https://travel', 'https://mail'] }, 'only one resource may be requested per token'],
    [{ requestedResources: [] }, 'resource is required: client c may get tokens for https://travel, https://mail'],
    [{ requestedResources: ['https://nowhere'] }, 'resource https://nowhere is not a registered resource'],
    [{ client: { id: 'c', scopes: ['read'], audiences: ['https://mail'] } }, 'client c may not get tokens for https://travel'],
  ])('answers invalid_target (%#)', (over, description) => {
    expect(errorOf(over)).toEqual({ error: 'invalid_target', error_description: description });
  });

  it('defaults the resource to the single audience of a client', () => {
    expect(decideClientCredentials(input({ requestedResources: [], client: { id: 'c', scopes: ['read'], audiences: ['https://travel'] } })))
      .toMatchObject({ ok: true, aud: 'https://travel' });
  });
});
