import { AgentTokenError } from './errors.js';

export type Fetch = typeof globalThis.fetch;

/** What the kit needs from the authorization server's metadata (RFC 8414). */
export interface ServerMetadata {
  issuer: string;
  jwks_uri: string;
  introspection_endpoint?: string;
  dpop_signing_alg_values_supported?: string[];
}

/** How long a failed discovery is remembered before the next request tries again. */
const RETRY_AFTER_FAILURE_MS = 5_000;
/** Metadata is re-read this often, so a moved `jwks_uri` is followed without a restart. */
const REFRESH_MS = 60 * 60 * 1000;
const TIMEOUT_MS = 5_000;

/** RFC 8414 section 3.1: the well-known segment goes between the host and the issuer's path. */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

/**
 * The issuer's metadata, fetched once and shared by every verification; concurrent callers wait
 * for the same request. A failure is remembered for a few seconds (every request fails closed
 * with 503 meanwhile) instead of sending each request to an authorization server that is down.
 */
export class Discovery {
  readonly #issuer: string;
  readonly #fetch: Fetch;
  #current: { metadata: ServerMetadata; at: number } | undefined;
  #failure: { error: AgentTokenError; at: number } | undefined;
  #pending: Promise<ServerMetadata> | undefined;

  constructor(issuer: string, fetch: Fetch) {
    this.#issuer = issuer;
    this.#fetch = fetch;
  }

  async get(now = Date.now()): Promise<ServerMetadata> {
    if (this.#current && now - this.#current.at < REFRESH_MS) return this.#current.metadata;
    if (this.#failure && now - this.#failure.at < RETRY_AFTER_FAILURE_MS) {
      // A refresh failed a moment ago: keep serving what was last read, or fail closed.
      if (this.#current) return this.#current.metadata;
      throw this.#failure.error;
    }
    this.#pending ??= this.#load(now).finally(() => { this.#pending = undefined; });
    return this.#pending;
  }

  async #load(now: number): Promise<ServerMetadata> {
    try {
      const metadata = await this.#read();
      this.#current = { metadata, at: now };
      this.#failure = undefined;
      return metadata;
    } catch (err) {
      const error = err instanceof AgentTokenError ? err : unavailable(`cannot read ${metadataUrl(this.#issuer)}: ${(err as Error).message}`);
      this.#failure = { error, at: now };
      // A failed refresh keeps the last good metadata.
      if (this.#current) return this.#current.metadata;
      throw error;
    }
  }

  async #read(): Promise<ServerMetadata> {
    const url = metadataUrl(this.#issuer);
    const res = await this.#fetch(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (res.status !== 200) throw unavailable(`${url} answered ${res.status}`);
    const body = await res.json() as Partial<ServerMetadata>;
    // RFC 8414 section 3.3: the metadata must name exactly the issuer it was fetched for.
    if (body.issuer !== this.#issuer) throw unavailable(`${url} names issuer ${JSON.stringify(body.issuer)}, expected ${this.#issuer}`);
    if (typeof body.jwks_uri !== 'string') throw unavailable(`${url} has no jwks_uri`);
    return body as ServerMetadata;
  }
}

export const unavailable = (description: string): AgentTokenError => new AgentTokenError('authorization_server_unavailable', description);
