import type { IncomingMessage } from 'node:http';
import type { Middleware } from 'koa';

import { MandateError } from '../errors.js';

/** Largest request body accepted (SPEC: over 64 KiB is 413). */
export const BODY_LIMIT_BYTES = 64 * 1024;

const tooLarge = (): MandateError =>
  new MandateError(413, 'invalid_request', `request body exceeds ${BODY_LIMIT_BYTES / 1024} KiB`);

declare module 'http' {
  interface IncomingMessage {
    /** Raw body text; oidc-provider parses it from here once the stream has been read. */
    body?: string;
  }
}

async function readLimited(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > BODY_LIMIT_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, received).toString('utf8');
}

/**
 * Reads every request body once, enforcing the limit before anything parses it, and leaves the
 * raw text on `ctx.req.body` (oidc-provider's parser reads it from there) and `ctx.request.body`.
 */
export function bodyLimit(): Middleware {
  return async function bodyLimitMiddleware(ctx, next) {
    if (ctx.request.length !== undefined && ctx.request.length > BODY_LIMIT_BYTES) throw tooLarge();
    if (ctx.req.readable && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(ctx.method)) {
      const text = await readLimited(ctx.req);
      ctx.req.body = text;
      (ctx.request as { body?: unknown }).body = text;
    }
    await next();
  };
}
