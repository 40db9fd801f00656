/**
 * `mandate/resource-server`: verify Mandate's agent tokens in a resource server (SPEC section 9).
 *
 *   const verifier = createAgentTokenVerifier({ issuer, audience });
 *   app.use(verifier.requireAgentToken({ scopes: ['trips:read'] }));
 *
 * Depends on jose only (and node:crypto); koa is supported structurally, not imported.
 */
export { createAgentTokenVerifier, DEFAULT_ALGORITHMS } from './verifier.js';
export type { AgentTokenVerifier, AgentTokenVerifierOptions, VerifyOptions, VerifyResult } from './verifier.js';
export type { AgentToken, Actor, Approval, AuthorizationDetail } from './agent-token.js';
export { AgentTokenError, ERRORS } from './errors.js';
export type { AgentTokenErrorCode, ErrorDetails, OAuthErrorCode } from './errors.js';
export type { Authorization, HttpRequest, RouteRequirements } from './authorize.js';
export type { Requirements } from './requirements.js';
export type { KoaLikeContext, KoaMiddleware } from './koa.js';
export type { IntrospectionOptions } from './introspection.js';
export type { ProofRequest } from './dpop.js';
export { DEFAULT_DPOP_ALGORITHMS } from './dpop.js';
export { protectedResourceMetadata, protectedResourceMetadataPath, serveProtectedResourceMetadata } from './protected-resource.js';
export type { ProtectedResourceMetadata } from './protected-resource.js';
