import { DEFAULT_DPOP_ALGORITHMS } from './dpop.js';
import type { KoaLikeContext } from './koa.js';

/** RFC 9728 section 2: OAuth 2.0 protected resource metadata (the fields MCP clients read). */
export interface ProtectedResourceMetadata {
  /** The resource identifier: the `audience` the verifier checks. */
  resource: string;
  /** Issuers whose tokens this resource accepts (Mandate's issuer URL). */
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported?: ('header' | 'body' | 'query')[];
  resource_name?: string;
  resource_documentation?: string;
  dpop_signing_alg_values_supported?: string[];
  dpop_bound_access_tokens_required?: boolean;
  [field: string]: unknown;
}

/**
 * RFC 9728 section 3.1: the metadata lives at `/.well-known/oauth-protected-resource` followed by
 * the resource identifier's path, as it is (`https://api.example/v1/` → `…/oauth-protected-resource/v1/`);
 * only a lone `/` after the host is dropped.
 */
export function protectedResourceMetadataPath(resource: string): string {
  const { pathname } = new URL(resource);
  return `/.well-known/oauth-protected-resource${pathname === '/' ? '' : pathname}`;
}

/** The metadata document with the kit's defaults filled in, checked as RFC 9728 asks. */
export function protectedResourceMetadata(metadata: ProtectedResourceMetadata): ProtectedResourceMetadata {
  const resource = URL.parse(metadata.resource);
  // RFC 9728 section 1.2: no fragment; a query (discouraged there) would make the well-known path ambiguous.
  if (!resource || !/^https?:$/.test(resource.protocol) || resource.hash || resource.search) {
    throw new TypeError(`protected resource metadata: resource must be an http(s) URL without query or fragment, got ${JSON.stringify(metadata.resource)}`);
  }
  if (!Array.isArray(metadata.authorization_servers) || metadata.authorization_servers.length === 0 || !metadata.authorization_servers.every((s) => URL.canParse(s))) {
    throw new TypeError('protected resource metadata: authorization_servers must list at least one issuer URL');
  }
  return {
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: DEFAULT_DPOP_ALGORITHMS,
    ...metadata,
  };
}

/** koa middleware answering `GET` on the metadata path with the document; other requests pass through. */
export function serveProtectedResourceMetadata(metadata: ProtectedResourceMetadata) {
  const document = protectedResourceMetadata(metadata);
  const path = protectedResourceMetadataPath(document.resource);
  const body = JSON.stringify(document);
  return async function protectedResourceMetadataRoute(ctx: KoaLikeContext, next: () => Promise<unknown>): Promise<void> {
    if (ctx.path !== path || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) {
      await next();
      return;
    }
    ctx.status = 200;
    ctx.set('content-type', 'application/json');
    ctx.set('cache-control', 'public, max-age=3600');
    ctx.body = body;
  };
}
