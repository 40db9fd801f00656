import { errors } from 'oidc-provider';
import type { Adapter, AdapterConstructor, AdapterPayload } from 'oidc-provider';
import { oidcGrantKey, oidcModelKey, oidcUidKey, oidcUserCodeKey } from '../store/keys.js';
import type { Store } from '../store/store.js';

/**
 * oidc-provider's storage adapter on top of a `Store`, so the provider's sessions, grants, codes
 * and tokens live in the same store as everything else (memory or Redis) and scale the same way.
 *
 * Models that Mandate keeps elsewhere (clients from the registry, access tokens as token records)
 * are served by `overrides`: their lookups go to the override and they are never written here.
 */
export function createOidcAdapter(store: Store, overrides: ModelOverrides = {}): AdapterConstructor {
  return class StoreAdapter implements Adapter {
    readonly #model: string;
    readonly #override: ModelOverride | undefined;

    constructor(model: string) {
      this.#model = model;
      this.#override = overrides[model];
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      this.#assertWritable('upsert');
      const ttlSeconds = ttlFor(expiresIn);
      const key = oidcModelKey(this.#model, id);
      // Indexes first: if the record write then fails, an index points at nothing (harmless),
      // whereas a record missing from its grant's index would survive the grant's revocation.
      if (GRANTABLE.has(this.#model) && payload.grantId) {
        await store.addToSet(oidcGrantKey(payload.grantId), key, ttlSeconds);
      }
      if (this.#model === 'Session' && payload.uid) {
        await store.set(oidcUidKey(payload.uid), id, { ttlSeconds });
      }
      if (payload.userCode) {
        await store.set(oidcUserCodeKey(payload.userCode), id, { ttlSeconds });
      }
      await store.set(key, JSON.stringify(payload), { ttlSeconds });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.#override) return this.#override.find(id);
      const stored = await store.get(oidcModelKey(this.#model, id));
      return stored === null ? undefined : (JSON.parse(stored) as AdapterPayload);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = await store.get(oidcUidKey(uid));
      return id === null ? undefined : this.find(id);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const id = await store.get(oidcUserCodeKey(userCode));
      return id === null ? undefined : this.find(id);
    }

    /**
     * Marks a single-use artefact used, atomically. oidc-provider checks `consumed` after a find
     * and only then consumes, so two concurrent redemptions could both pass its check: the loser
     * finds the field already set here and gets the error oidc-provider gives for a reuse, after
     * the grant's tokens are revoked as they are for a detected reuse.
     */
    async consume(id: string): Promise<void> {
      this.#assertWritable('consume');
      const key = oidcModelKey(this.#model, id);
      const outcome = await store.setJsonFieldIfAbsent(key, 'consumed', epochSeconds());
      if (outcome !== 'present') return;
      if (this.#model === 'PushedAuthorizationRequest') {
        throw new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used');
      }
      const grantId = (await this.find(id))?.grantId;
      if (grantId) await this.revokeByGrantId(grantId);
      throw new errors.InvalidGrant(`${REUSE_LABELS[this.#model] ?? 'grant'} already consumed`);
    }

    async destroy(id: string): Promise<void> {
      if (this.#override?.destroy) return this.#override.destroy(id);
      this.#assertWritable('destroy');
      await store.delete(oidcModelKey(this.#model, id));
    }

    /** Deletes every model instance issued under the grant (whatever its model), then the index. */
    async revokeByGrantId(grantId: string): Promise<void> {
      const grantKey = oidcGrantKey(grantId);
      const members = await store.setMembers(grantKey);
      if (members.length > 0) await store.delete(...members);
      await store.delete(grantKey);
    }

    #assertWritable(operation: string): void {
      if (this.#override || this.#model === 'Client') {
        throw new TypeError(`${this.#model} is read-only in the oidc adapter (${operation})`);
      }
    }
  };
}

/** Lookups (and optionally deletion) for a model that Mandate stores outside the adapter. */
export interface ModelOverride {
  find(id: string): Promise<AdapterPayload | undefined>;
  destroy?(id: string): Promise<void>;
}

export type ModelOverrides = { [modelName: string]: ModelOverride };

/**
 * TTL for models oidc-provider saves without one (InitialAccessToken, RegistrationAccessToken):
 * every key in the store expires, so these get 14 days, oidc-provider's default session lifetime.
 */
export const DEFAULT_TTL_SECONDS = 14 * 24 * 60 * 60;

/** Whole seconds, at least 1: the store rejects 0, and oidc-provider may save with 0 s left. */
function ttlFor(expiresIn: number | undefined): number {
  return expiresIn === undefined ? DEFAULT_TTL_SECONDS : Math.max(1, Math.ceil(expiresIn));
}

const epochSeconds = (): number => Math.floor(Date.now() / 1000);

/** Models oidc-provider revokes by grant (its memory adapter's list). */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/** oidc-provider's wording for each single-use grant source, for the reuse error. */
const REUSE_LABELS: Record<string, string> = {
  AuthorizationCode: 'authorization code',
  RefreshToken: 'refresh token',
  DeviceCode: 'device code',
  BackchannelAuthenticationRequest: 'backchannel authentication request',
  PreAuthorizedCode: 'pre-authorized code',
};
