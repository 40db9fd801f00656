import { AgentTokenError } from './errors.js';
import type { Fetch } from './discovery.js';
import { unavailable } from './discovery.js';
import type { ExpiringCache } from './expiring-cache.js';

export interface IntrospectionOptions {
  /** This resource server's client id at Mandate (a `clients` entry with `resource_server`). */
  clientId: string;
  clientSecret: string;
  /** How long an "active" answer is reused, seconds (default 5). "Inactive" is kept until the token's `exp`. */
  cacheSeconds?: number;
}

const TIMEOUT_MS = 5_000;

/** RFC 6749 section 2.3.1: client_secret_basic form-encodes id and secret before base64. */
const formEncode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+');

/**
 * Asks the introspection endpoint (RFC 7662) whether a verified token is still active: the check
 * for revocation-sensitive routes, since a JWT stays valid by signature until it expires. Answers
 * are cached briefly by token hash; an unreachable or refusing endpoint fails closed (503).
 */
export class Introspector {
  readonly #options: Required<IntrospectionOptions>;
  readonly #fetch: Fetch;
  readonly #cache: ExpiringCache<boolean>;

  constructor(options: IntrospectionOptions, fetch: Fetch, cache: ExpiringCache<boolean>) {
    this.#options = { cacheSeconds: 5, ...options };
    this.#fetch = fetch;
    this.#cache = cache;
  }

  async assertActive(endpoint: string | undefined, token: string, hash: string, expiresAt: number, now: number): Promise<void> {
    let active = this.#cache.get(hash, now);
    if (active === undefined) {
      if (!endpoint) throw unavailable('the authorization server publishes no introspection_endpoint');
      active = await this.#ask(endpoint, token);
      const until = active ? Math.min(now + this.#options.cacheSeconds * 1000, expiresAt * 1000) : expiresAt * 1000;
      this.#cache.set(hash, active, until, now);
    }
    if (!active) throw new AgentTokenError('token_revoked', 'the token is no longer active (revoked)');
  }

  async #ask(endpoint: string, token: string): Promise<boolean> {
    const { clientId, clientSecret } = this.#options;
    let res: Response;
    try {
      res = await this.#fetch(endpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw unavailable(`introspection failed: ${(err as Error).message}`);
    }
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      throw new AgentTokenError('introspection_refused', `the introspection endpoint refused this resource server (${res.status}): check introspection.clientId and clientSecret`);
    }
    if (res.status !== 200) throw unavailable(`the introspection endpoint answered ${res.status}`);
    const body = await res.json().catch(() => undefined) as { active?: unknown } | undefined;
    if (typeof body?.active !== 'boolean') throw unavailable('the introspection answer has no boolean active');
    return body.active;
  }
}
