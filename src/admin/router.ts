import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { invalidField } from '../registry/errors.js';

/**
 * A small router for the admin API whose route table is also the source of the OpenAPI document
 * (src/admin/openapi.ts): each route names its path, query and body schemas and its responses.
 */
export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface Reply {
  status: number;
  body: unknown;
}

export interface RouteInput<Q, B> {
  params: Record<string, string>;
  query: Q;
  body: B;
  requestId: string;
}

export interface Route<Q = unknown, B = unknown> {
  method: Method;
  /** OpenAPI-style template, e.g. `/admin/agents/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Success responses by status. */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  /** Path parameters that are not registry ids (e.g. a WebAuthn credential id): their pattern. */
  paramPatterns?: Record<string, string>;
  /** Error statuses this route may answer besides 401 (400, 404, 409). */
  errors: number[];
  handle: (input: RouteInput<Q, B>) => Promise<Reply>;
}

/** Keeps a route's generic types while putting it in a list. */
export const route = <Q, B>(r: Route<Q, B>): Route => r as unknown as Route;

export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
const ID_SEGMENT = new RegExp(ID_PATTERN);

function compile(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { pattern: new RegExp(`^${source}$`), names };
}

/** Compares digests so that neither length nor content leaks through timing. */
function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** A zod issue as `field: problem`, the field written as a JSON path (`scopes[1]`, `auth.jwks`). */
function describeIssue(issue: z.core.$ZodIssue, prefix: string): { field: string; problem: string } {
  const field = issue.path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '') || prefix;
  if (issue.code === 'unrecognized_keys') return { field: issue.keys.map((k) => (field === prefix ? k : `${field}.${k}`)).join(', '), problem: 'unknown field' };
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) return { field, problem: 'required' };
  return { field, problem: issue.message };
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const { field, problem } = describeIssue(result.error.issues[0]!, where);
  throw invalidField(field, problem);
}

function readBody(ctx: Context): unknown {
  const raw = (ctx.request as { body?: unknown }).body;
  if (typeof raw !== 'string' || raw.trim() === '') return {};
  if (!ctx.is('application/json')) throw invalidField('body', 'expected Content-Type: application/json');
  try {
    return JSON.parse(raw);
  } catch {
    throw invalidField('body', 'not valid JSON');
  }
}

/**
 * Mounts the routes under `/admin`. Without a token the whole API answers 404, as if it did not
 * exist; with one, every request needs `Authorization: Bearer <token>` (401 with no detail).
 */
export function adminRouter(routes: readonly Route[], token: string | undefined, extra: Record<string, () => unknown> = {}): Middleware {
  const compiled = routes.map((r) => ({
    ...r, ...compile(r.path), patterns: Object.fromEntries(Object.entries(r.paramPatterns ?? {}).map(([k, v]) => [k, new RegExp(v)])),
  }));
  return async function adminMiddleware(ctx, next) {
    if (ctx.path !== '/admin' && !ctx.path.startsWith('/admin/')) return next();
    if (token === undefined) {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
      return;
    }
    const header = ctx.get('authorization');
    const presented = /^Bearer ([\x21-\x7E]+)$/.exec(header)?.[1];
    if (presented === undefined || !sameSecret(presented, token)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="mandate-admin"');
      ctx.body = { error: 'unauthorized' };
      return;
    }
    const fixed = extra[ctx.path];
    if (fixed && ctx.method === 'GET') {
      ctx.body = fixed();
      return;
    }
    const matching = compiled.filter((r) => r.pattern.test(ctx.path));
    const found = matching.find((r) => r.method === ctx.method);
    if (!found) {
      ctx.status = matching.length > 0 ? 405 : 404;
      if (matching.length > 0) ctx.set('Allow', matching.map((r) => r.method).join(', '));
      ctx.body = matching.length > 0 ? { error: 'method_not_allowed', error_description: `${ctx.method} is not allowed on ${ctx.path}` } : { error: 'not_found', error_description: `no admin route ${ctx.path}` };
      return;
    }
    const values = found.pattern.exec(ctx.path)!.slice(1);
    const params: Record<string, string> = {};
    for (const [i, name] of found.names.entries()) {
      let value: string;
      try {
        value = decodeURIComponent(values[i]!);
      } catch {
        value = '';
      }
      if (!(found.patterns[name] ?? ID_SEGMENT).test(value)) throw invalidField(name, 'not a valid id');
      params[name] = value;
    }
    const query = found.query ? parse(found.query, { ...ctx.query }, 'query') : undefined;
    const body = found.body ? parse(found.body, readBody(ctx), 'body') : undefined;
    const reply = await found.handle({ params, query, body, requestId: ctx.state.requestId });
    ctx.status = reply.status;
    ctx.body = reply.body;
  };
}
