import { exportJWK } from 'jose';
import Provider, { type AdapterPayload, type KoaContextWithOIDC } from 'oidc-provider';

import { invalidRequest } from '../errors.js';
import { actorIds } from '../policy/act.js';
import { grantTypes, registerGrants, type GrantDeps } from '../grants/index.js';
import type { KeyStore } from '../keys/keystore.js';
import type { ClientEntry, Registry } from '../registry/registry.js';
import { secretMatches, type SecretResolver } from '../registry/secrets.js';
import type { Store } from '../store/store.js';
import type { TokenRecord, TokenRecords } from '../tokens/records.js';
import { createOidcAdapter } from './adapter.js';
import { toClientMetadata } from './clients.js';
import type { JwtReferences } from './jwt-references.js';

export interface ProviderDeps extends GrantDeps {
  issuer: string;
  store: Store;
  keys: KeyStore;
  /** Digests of the policy file's client secrets (`secretDigests`). */
  secretDigests: SecretResolver;
  records: TokenRecords;
  references: JwtReferences;
  clockToleranceSeconds: number;
  /**
   * The registry entry of a client that may authenticate and whose tokens are honoured; undefined
   * for an unknown id and for a suspended, retired, expired or orphaned agent (SPEC rule 8).
   */
  usableClient: (clientId: string) => Promise<ClientEntry | undefined>;
  /** RFC 9396 types accepted anywhere, for discovery. */
  authorizationDetailsTypes: string[];
}

/** A token record in the shape oidc-provider's AccessToken model expects from its adapter. */
function accessTokenPayload(record: TokenRecord): AdapterPayload {
  return {
    jti: record.jti,
    kind: 'AccessToken',
    iat: record.iat,
    exp: record.exp,
    accountId: record.sub,
    clientId: record.client_id,
    aud: record.aud,
    scope: record.scope,
    ...(record.cnf ? { jkt: record.cnf.jkt } : {}),
    // oidc-provider renders `rar` as `authorization_details` (see richAuthorizationRequests below).
    ...(record.authorization_details ? { rar: record.authorization_details } : {}),
    extra: record.act ? { act: record.act } : {},
  } as AdapterPayload;
}

/** May this client see or revoke that token? Its own client, or the resource server it is for. */
async function introspectionAllowed(registry: Registry, clientId: string, token: { clientId?: string; aud?: unknown }): Promise<boolean> {
  if (token.clientId === clientId) return true;
  const caller = await registry.client(clientId);
  return caller?.resourceServer !== undefined && caller.resourceServer === token.aud;
}

/** The request id of the request oidc-provider is serving (its context is in AsyncLocalStorage). */
function requestIdOf(ctx: KoaContextWithOIDC | undefined): { request_id?: string } {
  const id = ctx?.state?.requestId as unknown;
  return typeof id === 'string' ? { request_id: id } : {};
}

/** oidc-provider's own CIBA hooks: never reached, since Mandate serves the backchannel endpoint itself. */
async function notOurs(): Promise<never> {
  throw invalidRequest('this endpoint is served by Mandate\'s backchannel route');
}

export async function createProvider(deps: ProviderDeps): Promise<Provider> {
  const { registry, records, references } = deps;
  const Adapter = createOidcAdapter(deps.store, {
    Client: {
      async find(id) {
        const entry = await deps.usableClient(id);
        return entry && (toClientMetadata(entry, deps.secretDigests, grantTypes) as AdapterPayload);
      },
    },
    AccessToken: {
      async find(reference) {
        const jti = references.jtiOf(reference);
        const record = jti === undefined ? undefined : await records.get(jti);
        if (!records.isActive(record) || !(await deps.usableClient(record.client_id))) return undefined;
        return accessTokenPayload(record);
      },
      /** RFC 7009 revocation (the client's own token): the token and everything minted from it. */
      async destroy(jti) {
        const record = await records.get(jti);
        const revoked = await records.revoke(jti);
        if (revoked.length === 0 || !record) return;
        await deps.audit.record({
          type: 'token.revoked', outcome: 'success', jti, client_id: record.client_id, subject: { iss: record.sub_iss ?? deps.issuer, sub: record.sub },
          ...(record.act ? { actors: actorIds(record.act) } : {}), audience: record.aud, scope: record.scope,
          ...(record.parent_jti ? { parent_jti: record.parent_jti } : {}),
          reason: revoked.length === 1 ? 'revoked by its client' : `revoked by its client, with ${revoked.length - 1} token(s) minted from it`,
          ...requestIdOf(Provider.ctx),
        });
      },
    },
  });

  const signing = deps.keys.signingKey();
  const scopes = [...new Set(registry.resources().flatMap((r) => r.scopes))];

  const provider = new Provider(deps.issuer, {
    adapter: Adapter,
    clients: [],
    jwks: { keys: [{ ...(await exportJWK(signing.key)), kid: signing.kid, alg: signing.alg, use: 'sig' }] },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] },
    scopes,
    claims: { openid: ['sub'] },
    responseTypes: ['none'],
    clockTolerance: deps.clockToleranceSeconds,
    clientDefaults: { id_token_signed_response_alg: signing.alg, grant_types: [], response_types: [] },
    findAccount: async () => undefined,
    discovery: {
      authorization_details_types_supported: deps.authorizationDetailsTypes,
      // RFC 8693 token types accepted as subject_token_type / requested_token_type.
      token_types_supported: ['urn:ietf:params:oauth:token-type:access_token', 'urn:ietf:params:oauth:token-type:jwt'],
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: false },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      richAuthorizationRequests: {
        // Mandate validates tasks itself (src/policy/authorization-details.ts), so the feature
        // stays off; this hook is what introspection uses to render a token's stored task.
        enabled: false,
        authorizationDetailsForIntrospection: (_ctx, token) => token.rar,
      },
      resourceIndicators: {
        enabled: false,
        // oidc-provider insists on a resource whenever authorization_details is sent; for token
        // exchange the target may come as `audience` or from the agent's default_audience.
        defaultResource: async (ctx: KoaContextWithOIDC, client) => {
          const audience = ctx.oidc.params?.audience;
          if (typeof audience === 'string') return audience;
          return (await registry.client(client.clientId))?.agent?.default_audience;
        },
      },
      // CIBA: the feature is on only so that clients may hold the CIBA grant type (oidc-provider
      // checks it in client metadata). Its backchannel route and its grant handler are Mandate's
      // (src/grants/ciba.ts, src/app.ts): agent tokens are OAuth access tokens, not OIDC logins.
      ciba: {
        enabled: true,
        deliveryModes: ['poll'],
        processLoginHint: notOurs, processLoginHintToken: notOurs, triggerAuthenticationDevice: notOurs,
        validateBindingMessage: notOurs, validateRequestContext: notOurs, verifyUserCode: notOurs,
      },
      introspection: {
        enabled: true,
        allowedPolicy: (_ctx: KoaContextWithOIDC, client, token) => introspectionAllowed(registry, client.clientId, token),
      },
      revocation: {
        enabled: true,
        // RFC 7009 section 2.1: only the client the token was issued to may revoke it.
        allowedPolicy: (_ctx: KoaContextWithOIDC, client, token) => {
          if (token.clientId !== client.clientId) throw invalidRequest(`client ${client.clientId} may not revoke a token issued to another client`);
          return true;
        },
      },
    },
    // Mandate has no browser flows through oidc-provider: errors are always JSON.
    renderError: async (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  });
  // Client metadata carries a digest of the secret (src/oidc/clients.ts), never the secret.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return this.clientSecret !== undefined && secretMatches(actual, this.clientSecret);
  };
  registerGrants(provider, deps);
  return provider;
}
