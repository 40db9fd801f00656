import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Ajv2020Import from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import request from 'supertest';

import { ADMIN_TOKEN, secretOf, startTestApp, STORE_KINDS, TEST_POLICY, type TestApp } from '../support/app.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';

/**
 * OpenAPI conformance of the admin API: the document at /admin/openapi.json is compiled with ajv
 * (JSON Schema 2020-12, OpenAPI 3.1's dialect) and every documented operation is exercised with
 * real requests. Good request bodies must validate against the documented request schema and
 * schema-invalid ones must not; every response must have a documented status and a body that
 * validates against that status's schema. At the end every documented status of every operation
 * must have been seen.
 */

interface ValidateFn {
  (data: unknown): boolean;
  errors?: unknown[] | null;
}
interface AjvLike {
  addSchema(schema: object, key?: string): unknown;
  compile(schema: object): ValidateFn;
  errorsText(errors?: unknown[] | null, options?: { separator?: string }): string;
}
// ESM default-import interop: these are CommonJS modules whose default export is `.default`.
const Ajv2020 = ((Ajv2020Import as unknown as { default?: unknown }).default ?? Ajv2020Import) as new (options: object) => AjvLike;
const addFormats = ((addFormatsImport as unknown as { default?: unknown }).default ?? addFormatsImport) as (ajv: AjvLike) => unknown;

type Json = Record<string, unknown>;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

interface Operation {
  operationId: string;
  parameters?: { name: string; in: string; required: boolean; schema: Json }[];
  requestBody?: { required: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Json }> }>;
}

interface OpenApiDocument {
  openapi: string;
  jsonSchemaDialect?: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
}

/** One request against a documented operation, and what the test means by it. */
interface Call {
  method: Method;
  /** The documented path template, e.g. `/admin/agents/{id}`. */
  path: string;
  params?: Record<string, string>;
  /** Declares whether the path parameters are meant to fit the documented parameter schema (all of them, or each by name). */
  paramSchema?: 'valid' | 'invalid' | Record<string, 'valid' | 'invalid'>;
  query?: Record<string, string>;
  /** Declares whether the query is meant to fit the documented parameter schemas. */
  querySchema?: 'valid' | 'invalid';
  /** A JSON body (sent as application/json). */
  body?: unknown;
  /** Whether `body` is meant to fit the documented request schema (required with `body`). */
  bodySchema?: 'valid' | 'invalid';
  /** A raw (not JSON-encoded) body sent as application/json, e.g. malformed JSON. */
  raw?: string;
  token?: 'good' | 'none' | 'wrong';
  status: number;
}

const ROOT = 'https://mandate.test/admin/openapi.json';
const TRAVEL = 'https://api.travel.example';
const MAIL = 'https://api.mail.example';
const IDP = 'https://idp.example.com';

/**
 * TEST_POLICY with an approver (who enrolls passkeys and is asked for approvals), a deactivated
 * user (no enrollment link) and a second agent that asks for approvals through the backchannel.
 */
const POLICY = {
  ...TEST_POLICY,
  users: [...TEST_POLICY.users, { id: 'oa-approver', name: 'Approver' }, { id: 'oa-former', name: 'Former', status: 'deactivated' }],
  agents: [
    ...TEST_POLICY.agents,
    { id: 'oa-ciba', name: 'CIBA agent', owner: 'oa-approver', tier: 3, scopes: ['trips:read'], audiences: [TRAVEL], auth: { method: 'client_secret_basic', secret_env: 'TEST_OA_CIBA_SECRET' } },
  ],
};

describe.each(STORE_KINDS)('admin API conforms to its OpenAPI document (%s store)', (kind) => {
  let t: TestApp;
  let doc: OpenApiDocument;
  let rawDoc: Json;
  let ajv: AjvLike;
  let queryAjv: AjvLike;
  const validators = new Map<string, ValidateFn>();
  /** `METHOD path status` of every answer received. */
  const seen = new Set<string>();

  /** The document's schemas with component references pointing at the schema registered under ROOT. */
  const localize = (schema: Json): Json => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${ROOT}#/$defs/`)) as Json;

  const validator = (engine: AjvLike, schema: Json): ValidateFn => {
    const key = `${engine === ajv ? 'body' : 'query'} ${JSON.stringify(schema)}`;
    let fn = validators.get(key);
    if (!fn) {
      fn = engine.compile(localize(schema));
      validators.set(key, fn);
    }
    return fn;
  };

  const operation = (method: Method, path: string): Operation => {
    const op = doc.paths[path]?.[method.toLowerCase()];
    if (!op) throw new Error(`${method} ${path} is not in the OpenAPI document`);
    return op;
  };

  const querySchemaOf = (op: Operation): Json => {
    const query = (op.parameters ?? []).filter((p) => p.in === 'query');
    return { type: 'object', properties: Object.fromEntries(query.map((p) => [p.name, p.schema])), required: query.filter((p) => p.required).map((p) => p.name) };
  };

  async function call(c: Call): Promise<request.Response> {
    const op = operation(c.method, c.path);
    const label = `${c.method} ${c.path}`;

    // What is sent is what the test says it is, judged by the document.
    const params = c.params ?? {};
    for (const p of (op.parameters ?? []).filter((x) => x.in === 'path')) {
      const value = params[p.name];
      if (value === undefined) throw new Error(`${label}: no value for path parameter ${p.name}`);
      const meant = typeof c.paramSchema === 'object' ? c.paramSchema[p.name] ?? 'valid' : c.paramSchema ?? 'valid';
      expect({ [label]: { [p.name]: validator(ajv, p.schema)(value) } }).toEqual({ [label]: { [p.name]: meant === 'valid' } });
    }
    if (c.query !== undefined && c.querySchema !== undefined) {
      const fits = validator(queryAjv, querySchemaOf(op))(structuredClone(c.query));
      expect({ [label]: { query: c.query, fits } }).toEqual({ [label]: { query: c.query, fits: c.querySchema === 'valid' } });
    }
    if (c.body !== undefined) {
      if (c.bodySchema === undefined) throw new Error(`${label}: say whether the body is meant to fit the schema`);
      const schema = op.requestBody?.content['application/json']?.schema;
      if (!schema) throw new Error(`${label} documents no JSON request body`);
      const validate = validator(ajv, schema);
      const fits = validate(structuredClone(c.body));
      expect({ [label]: { body: c.body, fits, errors: fits ? '' : ajv.errorsText(validate.errors) } })
        .toMatchObject({ [label]: { body: c.body, fits: c.bodySchema === 'valid' } });
    }

    const url = c.path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(params[name]!));
    const agent = request(t.server);
    let req = c.method === 'GET' ? agent.get(url) : c.method === 'POST' ? agent.post(url) : c.method === 'PATCH' ? agent.patch(url) : agent.delete(url);
    const token = c.token ?? 'good';
    if (token === 'good') req = req.set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    if (token === 'wrong') req = req.set('Authorization', `Bearer ${ADMIN_TOKEN}x`);
    if (c.query) req = req.query(c.query);
    if (c.raw !== undefined) req = req.set('Content-Type', 'application/json').send(c.raw);
    else if (c.body !== undefined) req = req.send(c.body as object);
    const res = await req;

    expect({ [label]: { status: res.status, body: res.body as unknown } }).toMatchObject({ [label]: { status: c.status } });
    const documented = op.responses[String(res.status)];
    expect({ [label]: { documentedStatuses: Object.keys(op.responses), got: res.status } })
      .toEqual({ [label]: { documentedStatuses: expect.arrayContaining([String(res.status)]), got: res.status } });
    const schema = documented?.content?.['application/json']?.schema;
    if (schema) {
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const validate = validator(ajv, schema);
      const fits = validate(res.body);
      expect({ [label]: { status: res.status, body: res.body as unknown, errors: fits ? 'none' : ajv.errorsText(validate.errors) } })
        .toEqual({ [label]: { status: res.status, body: res.body as unknown, errors: 'none' } });
    }
    seen.add(`${c.method} ${c.path} ${res.status}`);
    return res;
  }

  const operations = (): { method: Method; path: string; op: Operation }[] =>
    Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase() as Method, path, op })));

  const fillParams = (path: string, value: string): Record<string, string> =>
    Object.fromEntries([...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => [name!, value]));

  /** Whether an operation answers 200 with a page (`items` and `next_cursor`), judged by its documented schema. */
  const isList = (op: Operation): boolean => {
    const schema = op.responses['200']?.content?.['application/json']?.schema;
    const ref = typeof schema?.$ref === 'string' ? /^#\/components\/schemas\/(.+)$/.exec(schema.$ref)?.[1] : undefined;
    const resolved = ref !== undefined ? doc.components.schemas[ref] : schema;
    const properties = (resolved?.properties ?? {}) as Json;
    return 'items' in properties && 'next_cursor' in properties;
  };

  /** The approver's passkeys live here (a software authenticator: real WebAuthn bytes). */
  let authenticator: SoftAuthenticator;

  /** A passkey for `user`: an enrollment link from the admin API, then the enrollment page's two calls. */
  async function enroll(user: string, device = authenticator): Promise<string> {
    const link = await call({ method: 'POST', path: '/admin/users/{id}/enrollments', params: { id: user }, body: {}, bodySchema: 'valid', status: 201 });
    const token = new URL((link.body as { url: string }).url).pathname.split('/').pop()!;
    const options = await request(t.server).post(`/enroll/${token}/options`).send({}).expect(200);
    const credential = device.register(options.body as PublicKeyCredentialCreationOptionsJSON);
    await request(t.server).post(`/enroll/${token}`).send({ credential }).expect(200);
    return credential.id;
  }

  /** A CIBA backchannel request by `agent` for oa-approver; the approval id. */
  async function backchannel(agent: string): Promise<string> {
    const res = await request(t.server).post('/backchannel').auth(agent, secretOf(agent)).type('form')
      .send({ login_hint: 'oa-approver', scope: 'trips:read', resource: TRAVEL });
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 200, body: { auth_req_id: expect.any(String) } });
    return (res.body as { auth_req_id: string }).auth_req_id.split('.')[0]!;
  }

  /** Three approval requests for oa-approver (two by oa-ciba, one by travel-agent), made once. */
  let made: Promise<string[]> | undefined;
  const approvalsMade = (): Promise<string[]> => (made ??= (async () => {
    await enroll('oa-approver');
    return [await backchannel('oa-ciba'), await backchannel('oa-ciba'), await backchannel('travel-agent')];
  })());

  beforeAll(async () => {
    t = await startTestApp({ store: kind, policy: POLICY });
    authenticator = new SoftAuthenticator({ origin: t.issuer });
    const res = await request(t.server).get('/admin/openapi.json').set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(200);
    rawDoc = res.body as Json;
    doc = res.body as OpenApiDocument;
    ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: ROOT, $defs: localize(doc.components.schemas) });
    queryAjv = new Ajv2020({ strict: true, allErrors: true, coerceTypes: true });
    addFormats(queryAjv);
    queryAjv.addSchema({ $id: ROOT, $defs: localize(doc.components.schemas) });
  });
  afterAll(() => t.close());

  it('is an OpenAPI 3.1.0 document whose component schemas compile as JSON Schema 2020-12', () => {
    expect(rawDoc.openapi).toBe('3.1.0');
    expect(doc.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(doc.info).toEqual(expect.objectContaining({ title: expect.any(String), version: expect.any(String) }));
    expect(doc.components.securitySchemes).toEqual({ adminToken: expect.objectContaining({ type: 'http', scheme: 'bearer' }) });
    expect(rawDoc.security).toEqual([{ adminToken: [] }]);
    const names = Object.keys(doc.components.schemas);
    expect(names).toEqual(expect.arrayContaining(['Agent', 'AgentCreate', 'AgentPatch', 'AgentWithSecret', 'User', 'UserCreate', 'UserPatch', 'Delegation', 'DelegationCreate', 'Error']));
    for (const name of names) {
      expect(() => ajv.compile({ $ref: `${ROOT}#/$defs/${name}` })).not.toThrow();
    }
    // Every reference in the document points at a component that exists.
    const refs = [...JSON.stringify(rawDoc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(([, name]) => name!);
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((name) => !names.includes(name))).toEqual([]);
  });

  it('documents each operation once, with an operationId, 401 and JSON schemas for every answer', () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThanOrEqual(17);
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { method, path, op } of ops) {
      expect({ [`${method} ${path}`]: Object.keys(op.responses) }).toEqual({ [`${method} ${path}`]: expect.arrayContaining(['401']) });
      for (const [status, response] of Object.entries(op.responses)) {
        expect({ [`${method} ${path} ${status}`]: response.content?.['application/json']?.schema !== undefined })
          .toEqual({ [`${method} ${path} ${status}`]: true });
      }
      for (const name of path.matchAll(/\{(\w+)\}/g)) {
        expect(op.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: name[1], in: 'path', required: true })]));
      }
      if (method === 'POST' || method === 'PATCH') expect(op.requestBody?.content['application/json']?.schema).toBeDefined();
    }
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
      '/admin/users', '/admin/users/{id}', '/admin/agents', '/admin/agents/{id}', '/admin/agents/{id}/secret', '/admin/agents/{id}/review',
      '/admin/reviews', '/admin/delegations', '/admin/delegations/{id}', '/admin/shadow-agents',
      '/admin/audit', '/admin/audit/verify', '/admin/audit/trace/{jti}',
    ]));
  });

  it('every operation answers 401 without the admin token or with a wrong one', async () => {
    for (const { method, path } of operations()) {
      for (const token of ['none', 'wrong'] as const) {
        const res = await call({ method, path, params: fillParams(path, 'travel-agent'), token, status: 401 });
        expect(res.body).toEqual({ error: 'unauthorized' });
      }
    }
  });

  it('every operation on a record answers 400 for a malformed id and 404 for an unknown one', async () => {
    for (const { method, path, op } of operations().filter((o) => o.path.includes('{'))) {
      // {} is a valid body for every operation on a record (all its fields are optional).
      const body = op.requestBody ? { body: {}, bodySchema: 'valid' as const } : {};
      const bad = await call({ method, path, params: fillParams(path, 'not an id!'), paramSchema: 'invalid', ...body, status: 400 });
      // The field named is the first path parameter (`id`, or `jti` for a token trace).
      const firstParam = /\{(\w+)\}/.exec(path)![1];
      expect(bad.body).toMatchObject({ error: 'invalid_request', field: firstParam });
      const missing = await call({ method, path, params: fillParams(path, 'no-such-record'), ...body, status: 404 });
      expect(missing.body).toMatchObject({ error: 'not_found' });
    }
  });

  it('every list operation pages with limit and cursor, and answers 400 for a bad limit or cursor', async () => {
    expect((await approvalsMade()).length).toBeGreaterThanOrEqual(3);
    const collections = operations().filter((o) => o.method === 'GET' && !o.path.includes('{'));
    const lists = collections.filter((o) => isList(o.op));
    expect(lists.map((o) => o.path).sort()).toEqual(['/admin/agents', '/admin/approvals', '/admin/audit', '/admin/delegations', '/admin/reviews', '/admin/shadow-agents', '/admin/users']);
    // A GET without a path parameter that is not a list: the trail's verification (tested with the audit trail below).
    expect(collections.filter((o) => !isList(o.op)).map((o) => o.path)).toEqual(['/admin/audit/verify']);
    for (const { path } of lists) {
      // Approval requests and audit events are several by now: two a page makes them page.
      const limit = path === '/admin/approvals' || path === '/admin/audit' ? 2 : 1;
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: Record<string, string> = { limit: String(limit), ...(cursor !== null ? { cursor } : {}) };
        const res = await call({ method: 'GET', path, query, querySchema: 'valid', status: 200 });
        const body = res.body as { items: unknown[]; next_cursor: string | null };
        expect(body.items.length).toBeLessThanOrEqual(limit);
        if (body.next_cursor !== null) expect(body.items.length).toBe(limit);
        cursor = body.next_cursor;
        pages += 1;
      } while (cursor !== null && pages < 50);
      expect(cursor).toBeNull();
      // Three or more approval requests (and their audit events) at two a page: it really paged.
      if (path === '/admin/approvals' || path === '/admin/audit') expect(pages).toBeGreaterThanOrEqual(2);
      for (const limit of ['0', '201', 'many']) {
        const res = await call({ method: 'GET', path, query: { limit }, querySchema: 'invalid', status: 400 });
        expect(res.body).toMatchObject({ error: 'invalid_request', field: 'limit' });
      }
      const res = await call({ method: 'GET', path, query: { cursor: '!!' }, querySchema: 'invalid', status: 400 });
      expect(res.body).toMatchObject({ error: 'invalid_request', field: 'cursor' });
      const unknown = await call({ method: 'GET', path, query: { colour: 'red' }, status: 400 });
      expect(unknown.body).toMatchObject({ error: 'invalid_request', field: 'colour' });
    }
    // A user's passkeys come in one page.
    const passkeys = await call({ method: 'GET', path: '/admin/users/{id}/passkeys', params: { id: 'oa-approver' }, status: 200 });
    expect(passkeys.body).toMatchObject({ items: [expect.objectContaining({ user_id: 'oa-approver' })], next_cursor: null });
  });

  it('users: create, list, read, change; bad bodies 400; taken ids and subjects 409', async () => {
    const created = await call({
      method: 'POST', path: '/admin/users', status: 201, bodySchema: 'valid',
      body: { id: 'oa-ursula', name: 'Ursula', email: 'ursula@example.com', subjects: [{ iss: IDP, sub: 'oa-u1' }] },
    });
    expect(created.body).toMatchObject({ id: 'oa-ursula', status: 'active', subjects: [{ iss: IDP, sub: 'oa-u1' }], source: 'admin' });
    await call({ method: 'POST', path: '/admin/users', status: 201, bodySchema: 'valid', body: { id: 'oa-victor', name: 'Victor' } });

    for (const body of [
      { id: 'oa-x', email: 'x@example.com' },                               // no name
      { id: 'oa-x', name: 'X', email: 'not an address' },
      { id: 'oa-x', name: 'X', subjects: [{ iss: 'not a url', sub: 'x' }] },
      { id: 'oa-x', name: 'X', role: 'admin' },                            // unknown field
      { id: 'bad id', name: 'X' },
      { id: 'oa-x', name: 'X', status: 'retired' },
    ]) {
      const res = await call({ method: 'POST', path: '/admin/users', body, bodySchema: 'invalid', status: 400 });
      expect(res.body).toMatchObject({ error: 'invalid_request', field: expect.any(String) });
    }
    const malformed = await call({ method: 'POST', path: '/admin/users', raw: '{"id": "oa-x",', status: 400 });
    expect(malformed.body).toMatchObject({ field: 'body' });

    await call({ method: 'POST', path: '/admin/users', body: { id: 'oa-ursula', name: 'Again' }, bodySchema: 'valid', status: 409 });
    const taken = await call({ method: 'POST', path: '/admin/users', body: { id: 'oa-walter', name: 'W', subjects: [{ iss: IDP, sub: 'oa-u1' }] }, bodySchema: 'valid', status: 409 });
    expect(taken.body).toMatchObject({ error: 'conflict', field: 'subjects[0]' });

    const list = await call({ method: 'GET', path: '/admin/users', query: { status: 'active', limit: '200' }, querySchema: 'valid', status: 200 });
    expect((list.body as { items: { id: string }[] }).items.map((u) => u.id)).toEqual(expect.arrayContaining(['alice', 'oa-ursula', 'oa-victor']));
    await call({ method: 'GET', path: '/admin/users', query: { status: 'gone' }, querySchema: 'invalid', status: 400 });

    const read = await call({ method: 'GET', path: '/admin/users/{id}', params: { id: 'oa-ursula' }, status: 200 });
    expect(read.body).toEqual(created.body);

    const changed = await call({ method: 'PATCH', path: '/admin/users/{id}', params: { id: 'oa-victor' }, body: { name: 'Victor V', email: 'v@example.com' }, bodySchema: 'valid', status: 200 });
    expect(changed.body).toMatchObject({ name: 'Victor V', email: 'v@example.com' });
    const cleared = await call({ method: 'PATCH', path: '/admin/users/{id}', params: { id: 'oa-victor' }, body: { email: null }, bodySchema: 'valid', status: 200 });
    expect(cleared.body).not.toHaveProperty('email');
    for (const body of [{ status: 'retired' }, { name: '' }, { id: 'other' }, { subjects: [{ iss: IDP }] }]) {
      await call({ method: 'PATCH', path: '/admin/users/{id}', params: { id: 'oa-victor' }, body, bodySchema: 'invalid', status: 400 });
    }
    const subjectTaken = await call({ method: 'PATCH', path: '/admin/users/{id}', params: { id: 'oa-victor' }, body: { subjects: [{ iss: IDP, sub: 'oa-u1' }] }, bodySchema: 'valid', status: 409 });
    expect(subjectTaken.body).toMatchObject({ error: 'conflict', field: 'subjects[0]' });
  });

  it('agents: create (generated secret or keys), list, read, change, rotate, review, retire; 400s and 409s', async () => {
    const good = {
      id: 'oa-agent', name: 'OA agent', owner: 'alice', tier: 2, scopes: ['trips:read'], audiences: [TRAVEL], default_audience: TRAVEL,
      max_token_ttl: 300, grant_types: ['client_credentials'], expires_at: '2099-01-01T00:00:00Z', auth: { method: 'client_secret_basic' },
    };
    const created = await call({ method: 'POST', path: '/admin/agents', body: good, bodySchema: 'valid', status: 201 });
    expect(created.body).toMatchObject({ id: 'oa-agent', status: 'active', auth: { method: 'client_secret_basic' }, client_secret: expect.any(String) });
    const keyed = await call({
      method: 'POST', path: '/admin/agents', bodySchema: 'valid', status: 201,
      body: { id: 'oa-keyed', name: 'Keyed', owner: 'alice', tier: 1, scopes: ['mail:read'], audiences: [MAIL], may_delegate_to: ['oa-agent'], auth: { method: 'private_key_jwt', jwks_uri: 'https://keys.example/jwks' } },
    });
    expect(keyed.body).not.toHaveProperty('client_secret');

    const schemaInvalid: Json[] = [
      { ...good, id: 'oa-x', owner: undefined },
      { ...good, id: 'oa-x', tier: 4 },
      { ...good, id: 'oa-x', tier: '2' },
      { ...good, id: 'oa-x', colour: 'blue' },
      { ...good, id: 'oa x' },
      { ...good, id: 'oa-x', max_token_ttl: 901 },
      { ...good, id: 'oa-x', expires_at: 'tomorrow' },
      { ...good, id: 'oa-x', grant_types: ['password'] },
      { ...good, id: 'oa-x', auth: { method: 'client_secret_basic', secret_env: 'X' } },
      { ...good, id: 'oa-x', auth: { method: 'none' } },
      { ...good, id: 'oa-x', scopes: ['has space'] },
    ];
    for (const body of schemaInvalid) {
      const res = await call({ method: 'POST', path: '/admin/agents', body: JSON.parse(JSON.stringify(body)) as Json, bodySchema: 'invalid', status: 400 });
      expect(res.body).toMatchObject({ error: 'invalid_request', field: expect.any(String) });
    }
    // Fit the schema, refused by the registry's checks.
    const semanticallyInvalid: [Json, string][] = [
      [{ ...good, id: 'oa-x', owner: 'nobody' }, 'owner'],
      [{ ...good, id: 'oa-x', scopes: ['mail:read'] }, 'scopes[0]'],
      [{ ...good, id: 'oa-x', audiences: ['https://unregistered.example'], default_audience: 'https://unregistered.example' }, 'audiences[0]'],
      [{ ...good, id: 'oa-x', default_audience: MAIL }, 'default_audience'],
      [{ ...good, id: 'oa-x', may_delegate_to: ['ghost-agent'] }, 'may_delegate_to[0]'],
      [{ ...good, id: 'oa-x', expires_at: '2020-01-01T00:00:00Z' }, 'expires_at'],
    ];
    for (const [body, field] of semanticallyInvalid) {
      const res = await call({ method: 'POST', path: '/admin/agents', body, bodySchema: 'valid', status: 400 });
      expect(res.body).toMatchObject({ error: 'invalid_request', field });
    }
    await call({ method: 'POST', path: '/admin/agents', raw: '{"id": ', status: 400 });

    await call({ method: 'POST', path: '/admin/agents', body: good, bodySchema: 'valid', status: 409 });
    await call({ method: 'POST', path: '/admin/agents', body: { ...good, id: 'travel-app' }, bodySchema: 'valid', status: 409 });

    const list = await call({ method: 'GET', path: '/admin/agents', query: { owner: 'alice', tier: '2', status: 'active' }, querySchema: 'valid', status: 200 });
    expect((list.body as { items: { id: string }[] }).items.map((a) => a.id).sort()).toEqual(['oa-agent', 'travel-agent']);
    await call({ method: 'GET', path: '/admin/agents', query: { tier: '4' }, querySchema: 'invalid', status: 400 });
    await call({ method: 'GET', path: '/admin/agents', query: { status: 'gone' }, querySchema: 'invalid', status: 400 });
    await call({ method: 'GET', path: '/admin/agents', query: { owner: 'not an id' }, querySchema: 'invalid', status: 400 });

    const read = await call({ method: 'GET', path: '/admin/agents/{id}', params: { id: 'oa-agent' }, status: 200 });
    expect(read.body).not.toHaveProperty('client_secret');
    await call({ method: 'GET', path: '/admin/agents/{id}', params: { id: 'travel-agent' }, status: 200 });

    const patched = await call({ method: 'PATCH', path: '/admin/agents/{id}', params: { id: 'oa-agent' }, body: { name: 'Renamed', scopes: ['trips:read', 'trips:book'], max_token_ttl: null }, bodySchema: 'valid', status: 200 });
    expect(patched.body).toMatchObject({ name: 'Renamed', scopes: ['trips:read', 'trips:book'] });
    expect(patched.body).not.toHaveProperty('max_token_ttl');
    await call({ method: 'PATCH', path: '/admin/agents/{id}', params: { id: 'oa-agent' }, body: { status: 'suspended' }, bodySchema: 'valid', status: 200 });
    await call({ method: 'PATCH', path: '/admin/agents/{id}', params: { id: 'oa-agent' }, body: { status: 'active' }, bodySchema: 'valid', status: 200 });
    await call({ method: 'PATCH', path: '/admin/agents/{id}', params: { id: 'oa-keyed' }, body: { auth: { method: 'private_key_jwt', jwks: { keys: [] } } }, bodySchema: 'valid', status: 200 });
    for (const body of [{ status: 'retired' }, { tier: 5 }, { id: 'new-id' }, { auth: { method: 'client_secret_basic' } }, { max_token_ttl: 0 }]) {
      await call({ method: 'PATCH', path: '/admin/agents/{id}', params: { id: 'oa-agent' }, body, bodySchema: 'invalid', status: 400 });
    }
    await call({ method: 'PATCH', path: '/admin/agents/{id}', params: { id: 'oa-agent' }, body: { owner: 'nobody' }, bodySchema: 'valid', status: 400 });

    const rotated = await call({ method: 'POST', path: '/admin/agents/{id}/secret', params: { id: 'oa-agent' }, body: {}, bodySchema: 'valid', status: 200 });
    expect(rotated.body).toMatchObject({ client_secret: expect.any(String) });
    await call({ method: 'POST', path: '/admin/agents/{id}/secret', params: { id: 'oa-agent' }, body: { method: 'client_secret_post' }, bodySchema: 'valid', status: 200 });
    await call({ method: 'POST', path: '/admin/agents/{id}/secret', params: { id: 'oa-agent' }, body: { method: 'private_key_jwt' }, bodySchema: 'invalid', status: 400 });
    await call({ method: 'POST', path: '/admin/agents/{id}/secret', params: { id: 'oa-agent' }, body: { secret: 'mine' }, bodySchema: 'invalid', status: 400 });
    // Valid shape, but the agent uses keys and no method was named.
    await call({ method: 'POST', path: '/admin/agents/{id}/secret', params: { id: 'oa-keyed' }, body: {}, bodySchema: 'valid', status: 400 });

    const reviewed = await call({ method: 'POST', path: '/admin/agents/{id}/review', params: { id: 'oa-agent' }, body: { reviewer: 'alice' }, bodySchema: 'valid', status: 200 });
    expect(reviewed.body).toMatchObject({ last_reviewed_by: 'alice', last_reviewed_at: expect.any(String) });
    await call({ method: 'POST', path: '/admin/agents/{id}/review', params: { id: 'oa-agent' }, body: {}, bodySchema: 'valid', status: 200 });
    await call({ method: 'POST', path: '/admin/agents/{id}/review', params: { id: 'oa-agent' }, body: { reviewer: 5 }, bodySchema: 'invalid', status: 400 });
    await call({ method: 'POST', path: '/admin/agents/{id}/review', params: { id: 'oa-agent' }, body: { reviewer: 'nobody' }, bodySchema: 'valid', status: 400 });

    const retired = await call({ method: 'DELETE', path: '/admin/agents/{id}', params: { id: 'oa-agent' }, status: 200 });
    expect(retired.body).toMatchObject({ status: 'retired', retired_at: expect.any(String) });
    await call({ method: 'DELETE', path: '/admin/agents/{id}', params: { id: 'oa-agent' }, status: 200 });

    // A retired agent: nothing about it may change, and its id is never reused.
    await call({ method: 'PATCH', path: '/admin/agents/{id}', params: { id: 'oa-agent' }, body: { name: 'Back' }, bodySchema: 'valid', status: 409 });
    await call({ method: 'POST', path: '/admin/agents/{id}/secret', params: { id: 'oa-agent' }, body: { method: 'client_secret_basic' }, bodySchema: 'valid', status: 409 });
    await call({ method: 'POST', path: '/admin/agents/{id}/review', params: { id: 'oa-agent' }, body: {}, bodySchema: 'valid', status: 409 });
    const reused = await call({ method: 'POST', path: '/admin/agents', body: good, bodySchema: 'valid', status: 409 });
    expect(reused.body).toMatchObject({ error: 'conflict', field: 'id' });

    // An agent whose owner is deactivated cannot resume.
    await call({ method: 'POST', path: '/admin/users', body: { id: 'oa-owner', name: 'Owner' }, bodySchema: 'valid', status: 201 });
    await call({ method: 'POST', path: '/admin/agents', body: { ...good, id: 'oa-orphan', owner: 'oa-owner' }, bodySchema: 'valid', status: 201 });
    await call({ method: 'PATCH', path: '/admin/users/{id}', params: { id: 'oa-owner' }, body: { status: 'deactivated' }, bodySchema: 'valid', status: 200 });
    const orphan = await call({ method: 'GET', path: '/admin/agents/{id}', params: { id: 'oa-orphan' }, status: 200 });
    expect(orphan.body).toMatchObject({ status: 'suspended', status_reason: 'orphaned' });
    const resume = await call({ method: 'PATCH', path: '/admin/agents/{id}', params: { id: 'oa-orphan' }, body: { status: 'active' }, bodySchema: 'valid', status: 409 });
    expect(resume.body).toMatchObject({ error: 'conflict' });
  });

  it('reviews: lists agents by review due date, overdue filter', async () => {
    const all = await call({ method: 'GET', path: '/admin/reviews', query: { limit: '200' }, querySchema: 'valid', status: 200 });
    expect((all.body as { items: { id: string }[] }).items.map((a) => a.id)).toContain('travel-agent');
    await t.governance.registry.update<Record<string, unknown>>('agents', 'travel-agent', (a) => ({ ...a, created_at: '2020-01-01T00:00:00.000Z' }));
    const overdue = await call({ method: 'GET', path: '/admin/reviews', query: { overdue: 'true' }, querySchema: 'valid', status: 200 });
    expect(overdue.body).toMatchObject({ items: [expect.objectContaining({ id: 'travel-agent', overdue: true })] });
    const notOverdue = await call({ method: 'GET', path: '/admin/reviews', query: { overdue: 'false' }, querySchema: 'valid', status: 200 });
    expect((notOverdue.body as { items: { id: string }[] }).items.map((a) => a.id)).not.toContain('travel-agent');
    await call({ method: 'GET', path: '/admin/reviews', query: { overdue: 'yes' }, querySchema: 'invalid', status: 400 });
  });

  it('delegations: create for a user or a subject, list, read, revoke; 400s and a taken id 409', async () => {
    const good = { id: 'oa-dlg', user: 'alice', agent: 'travel-agent', scopes: ['trips:read'], audiences: [TRAVEL], expires_at: '2099-01-01T00:00:00Z' };
    const created = await call({ method: 'POST', path: '/admin/delegations', body: good, bodySchema: 'valid', status: 201 });
    expect(created.body).toMatchObject({ id: 'oa-dlg', status: 'active' });
    const bySubject = await call({
      method: 'POST', path: '/admin/delegations', bodySchema: 'valid', status: 201,
      body: { subject: { iss: IDP, sub: 'service-7' }, agent: 'travel-agent', scopes: ['trips:read'], audiences: [TRAVEL] },
    });
    expect(bySubject.body).toMatchObject({ id: expect.stringMatching(/^[A-Za-z0-9]/), subject: { iss: IDP, sub: 'service-7' } });

    for (const body of [
      { user: 'alice', scopes: ['trips:read'], audiences: [TRAVEL] },                                  // no agent
      { ...good, id: 'oa-x', scopes: [] },
      { ...good, id: 'oa-x', audiences: [] },
      { ...good, id: 'oa-x', note: 'hi' },
      { ...good, id: 'oa-x', user: undefined, subject: { iss: 'not a url', sub: 'x' } },
      { ...good, id: 'oa-x', expires_at: 'soon' },
    ]) {
      await call({ method: 'POST', path: '/admin/delegations', body: JSON.parse(JSON.stringify(body)) as Json, bodySchema: 'invalid', status: 400 });
    }
    for (const body of [
      { ...good, id: 'oa-x', user: undefined },                          // neither user nor subject (a rule the schema cannot express)
      { ...good, id: 'oa-x', agent: 'ghost-agent' },
      { ...good, id: 'oa-x', user: 'nobody' },
      { ...good, id: 'oa-x', scopes: ['mail:read'] },
      { ...good, id: 'oa-x', audiences: ['https://unregistered.example'] },
      { ...good, id: 'oa-x', expires_at: '2020-01-01T00:00:00Z' },
    ]) {
      await call({ method: 'POST', path: '/admin/delegations', body: JSON.parse(JSON.stringify(body)) as Json, bodySchema: 'valid', status: 400 });
    }
    await call({ method: 'POST', path: '/admin/delegations', raw: 'user=alice', status: 400 });
    await call({ method: 'POST', path: '/admin/delegations', body: good, bodySchema: 'valid', status: 409 });

    const list = await call({ method: 'GET', path: '/admin/delegations', query: { agent: 'travel-agent', user: 'alice', status: 'active' }, querySchema: 'valid', status: 200 });
    expect((list.body as { items: { id: string }[] }).items.map((d) => d.id)).toEqual(['oa-dlg']);
    await call({ method: 'GET', path: '/admin/delegations', query: { status: 'expired' }, querySchema: 'invalid', status: 400 });

    const read = await call({ method: 'GET', path: '/admin/delegations/{id}', params: { id: 'oa-dlg' }, status: 200 });
    expect(read.body).toEqual(created.body);
    const revoked = await call({ method: 'DELETE', path: '/admin/delegations/{id}', params: { id: 'oa-dlg' }, status: 200 });
    expect(revoked.body).toMatchObject({ status: 'revoked', revoked_at: expect.any(String) });
    await call({ method: 'DELETE', path: '/admin/delegations/{id}', params: { id: 'oa-dlg' }, status: 200 });
    // A revoked delegation's id stays taken.
    await call({ method: 'POST', path: '/admin/delegations', body: good, bodySchema: 'valid', status: 409 });
  });

  it('passkeys: enrollment links, list, remove; 400s, 404s and a deactivated user 409', async () => {
    const link = await call({ method: 'POST', path: '/admin/users/{id}/enrollments', params: { id: 'alice' }, body: { expires_in: 3600 }, bodySchema: 'valid', status: 201 });
    expect(link.body).toEqual({ url: expect.stringMatching(new RegExp(`^${t.issuer.replaceAll('.', '\\.')}/enroll/[A-Za-z0-9_-]{43}$`)), expires_at: expect.any(String) });
    await call({ method: 'POST', path: '/admin/users/{id}/enrollments', params: { id: 'alice' }, body: {}, bodySchema: 'valid', status: 201 });
    await call({ method: 'POST', path: '/admin/users/{id}/enrollments', params: { id: 'alice' }, body: { expires_in: 60 }, bodySchema: 'valid', status: 201 });
    await call({ method: 'POST', path: '/admin/users/{id}/enrollments', params: { id: 'alice' }, body: { expires_in: 604_800 }, bodySchema: 'valid', status: 201 });
    for (const body of [{ expires_in: 59 }, { expires_in: 604_801 }, { expires_in: '3600' }, { expires_in: 90.5 }, { expires_in: null }, { ttl: 3600 }]) {
      const res = await call({ method: 'POST', path: '/admin/users/{id}/enrollments', params: { id: 'alice' }, body, bodySchema: 'invalid', status: 400 });
      expect(res.body).toMatchObject({ error: 'invalid_request', field: Object.keys(body)[0] });
    }
    await call({ method: 'POST', path: '/admin/users/{id}/enrollments', params: { id: 'alice' }, raw: '{"expires_in": ', status: 400 });
    const former = await call({ method: 'POST', path: '/admin/users/{id}/enrollments', params: { id: 'oa-former' }, body: {}, bodySchema: 'valid', status: 409 });
    expect(former.body).toMatchObject({ error: 'conflict' });
    await call({ method: 'POST', path: '/admin/users/{id}/enrollments', params: { id: 'oa-nobody' }, body: { expires_in: 3600 }, bodySchema: 'valid', status: 404 });

    await approvalsMade();
    // A second passkey (another device: one authenticator holds one passkey per user).
    const spare = await enroll('oa-approver', new SoftAuthenticator({ origin: t.issuer }));
    const list = await call({ method: 'GET', path: '/admin/users/{id}/passkeys', params: { id: 'oa-approver' }, status: 200 });
    const items = (list.body as { items: { id: string; user_id: string }[]; next_cursor: null }).items;
    expect(items.length).toBeGreaterThanOrEqual(2);
    expect(items.map((p) => p.id)).toContain(spare);
    expect(items.every((p) => p.user_id === 'oa-approver' && !('public_key' in p))).toBe(true);
    const none = await call({ method: 'GET', path: '/admin/users/{id}/passkeys', params: { id: 'alice' }, status: 200 });
    expect(none.body).toEqual({ items: [], next_cursor: null });
    await call({ method: 'GET', path: '/admin/users/{id}/passkeys', params: { id: 'oa-nobody' }, status: 404 });
    await call({ method: 'GET', path: '/admin/users/{id}/passkeys', params: { id: 'not an id!' }, paramSchema: 'invalid', status: 400 });

    const path = '/admin/users/{id}/passkeys/{credential}';
    // Another user's passkey is not found through this user.
    await call({ method: 'DELETE', path, params: { id: 'alice', credential: spare }, status: 404 });
    const removed = await call({ method: 'DELETE', path, params: { id: 'oa-approver', credential: spare }, status: 200 });
    expect(removed.body).toMatchObject({ id: spare, user_id: 'oa-approver' });
    await call({ method: 'DELETE', path, params: { id: 'oa-approver', credential: spare }, status: 404 });
    for (const credential of ['has+plus', 'pad=', 'x'.repeat(1365)]) {
      const bad = await call({ method: 'DELETE', path, params: { id: 'oa-approver', credential }, paramSchema: { id: 'valid', credential: 'invalid' }, status: 400 });
      expect(bad.body).toMatchObject({ error: 'invalid_request', field: 'credential' });
    }
    const badUser = await call({ method: 'DELETE', path, params: { id: 'not an id!', credential: spare }, paramSchema: { id: 'invalid', credential: 'valid' }, status: 400 });
    expect(badUser.body).toMatchObject({ error: 'invalid_request', field: 'id' });
    const after = await call({ method: 'GET', path: '/admin/users/{id}/passkeys', params: { id: 'oa-approver' }, status: 200 });
    expect((after.body as { items: { id: string }[] }).items.map((p) => p.id)).not.toContain(spare);
  });

  it('approvals: list by status, user and agent, read; 400s and 404', async () => {
    const [first, second, third] = await approvalsMade();
    // Decide two of them on the approval page with the approver's passkey.
    for (const [id, action] of [[first!, 'approve'], [second!, 'deny']] as const) {
      const options = await request(t.server).post(`/approvals/${id}/options`).send({ action }).expect(200);
      const credential = authenticator.assert(options.body as PublicKeyCredentialRequestOptionsJSON);
      await request(t.server).post(`/approvals/${id}/decision`).send({ action, credential }).expect(200);
    }

    const all = await call({ method: 'GET', path: '/admin/approvals', query: { user: 'oa-approver', limit: '200' }, querySchema: 'valid', status: 200 });
    expect((all.body as { items: { id: string }[] }).items.map((a) => a.id).sort()).toEqual([first, second, third].sort());
    const byAgent = await call({ method: 'GET', path: '/admin/approvals', query: { agent: 'oa-ciba', user: 'oa-approver' }, querySchema: 'valid', status: 200 });
    expect((byAgent.body as { items: { id: string }[] }).items.map((a) => a.id).sort()).toEqual([first, second].sort());
    for (const [status, id] of [['approved', first], ['denied', second], ['pending', third]] as const) {
      const res = await call({ method: 'GET', path: '/admin/approvals', query: { status, user: 'oa-approver' }, querySchema: 'valid', status: 200 });
      expect(res.body).toMatchObject({ items: [expect.objectContaining({ id, status })], next_cursor: null });
    }
    const none = await call({ method: 'GET', path: '/admin/approvals', query: { status: 'redeemed' }, querySchema: 'valid', status: 200 });
    expect(none.body).toEqual({ items: [], next_cursor: null });
    const badQueries: [Record<string, string>, string][] = [[{ status: 'done' }, 'status'], [{ user: 'not an id' }, 'user'], [{ agent: '' }, 'agent'], [{ status: 'approved', limit: '-1' }, 'limit']];
    for (const [query, field] of badQueries) {
      const res = await call({ method: 'GET', path: '/admin/approvals', query, querySchema: 'invalid', status: 400 });
      expect(res.body).toMatchObject({ error: 'invalid_request', field });
    }

    const read = await call({ method: 'GET', path: '/admin/approvals/{id}', params: { id: first! }, status: 200 });
    expect(read.body).toMatchObject({
      id: first, status: 'approved', reason: 'ciba', consent: false, approver: 'oa-approver', agent: { id: 'oa-ciba', owner: 'oa-approver', tier: 3 },
      scopes: ['trips:read'], audience: TRAVEL, approval_uri: `${t.issuer}/approvals/${first}`, decided_at: expect.any(String),
    });
    await call({ method: 'GET', path: '/admin/approvals/{id}', params: { id: third! }, status: 200 });
    await call({ method: 'GET', path: '/admin/approvals/{id}', params: { id: 'apr_AAAAAAAAAAAAAAAAAAAAAA' }, status: 404 });
    await call({ method: 'GET', path: '/admin/approvals/{id}', params: { id: 'apr_no/such' }, paramSchema: 'invalid', status: 400 });
  });

  it('audit trail: events by token, agent, type and time, verification, a token traced to its origin; 400s and 404', async () => {
    const [first, second] = await approvalsMade();
    const issued = await request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form')
      .send({ grant_type: 'client_credentials', resource: TRAVEL, scope: 'trips:read' }).expect(200);
    const jti = (JSON.parse(Buffer.from((issued.body as { access_token: string }).access_token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;

    const byToken = await call({ method: 'GET', path: '/admin/audit', query: { jti }, querySchema: 'valid', status: 200 });
    expect(byToken.body).toEqual({
      items: [expect.objectContaining({ type: 'token.issued', outcome: 'success', jti, client_id: 'travel-app', audience: TRAVEL, scope: 'trips:read', trail: expect.any(Object) })],
      next_cursor: null,
    });
    const event = (byToken.body as { items: { id: string; time: string }[] }).items[0]!;
    const requested = await call({ method: 'GET', path: '/admin/audit', query: { agent: 'oa-ciba', type: 'approval.*', limit: '200' }, querySchema: 'valid', status: 200 });
    const approvalIds = (requested.body as { items: { type: string; approval_id: string }[] }).items.filter((e) => e.type === 'approval.requested').map((e) => e.approval_id);
    expect(approvalIds.sort()).toEqual([first, second].sort());
    // The token's event is at `since` (inclusive) and not before `until` (exclusive).
    const at = await call({ method: 'GET', path: '/admin/audit', query: { since: event.time, type: 'token.issued', subject: 'travel-app' }, querySchema: 'valid', status: 200 });
    expect((at.body as { items: { id: string }[] }).items.map((e) => e.id)).toContain(event.id);
    const before = await call({ method: 'GET', path: '/admin/audit', query: { until: event.time, jti }, querySchema: 'valid', status: 200 });
    expect(before.body).toEqual({ items: [], next_cursor: null });

    const badQueries: [Record<string, string>, string][] = [
      [{ since: 'yesterday' }, 'since'], [{ type: 'Token Issued' }, 'type'], [{ agent: 'not an id' }, 'agent'], [{ jti: 'has space' }, 'jti'], [{ subject: '' }, 'subject'],
    ];
    for (const [query, field] of badQueries) {
      const res = await call({ method: 'GET', path: '/admin/audit', query, querySchema: 'invalid', status: 400 });
      expect(res.body).toMatchObject({ error: 'invalid_request', field });
    }
    // Fit the documented parameters, refused by the route: an empty time range, a cursor that is no next_cursor.
    const empty = await call({ method: 'GET', path: '/admin/audit', query: { since: event.time, until: event.time }, querySchema: 'valid', status: 400 });
    expect(empty.body).toMatchObject({ error: 'invalid_request', field: 'until' });
    const forged = await call({ method: 'GET', path: '/admin/audit', query: { cursor: 'AAAA' }, querySchema: 'valid', status: 400 });
    expect(forged.body).toMatchObject({ error: 'invalid_request', field: 'cursor' });

    const verified = await call({ method: 'GET', path: '/admin/audit/verify', status: 200 });
    const all = await t.audit.list({ limit: 10_000 });
    expect(verified.body).toEqual({
      valid: true, checked: all.items.length, first_bad: null, checkpoints: 0,
      chains: [{ writer: t.audit.writer, checked: all.items.length, last: all.items.length, valid: true }],
    });

    const traced = await call({ method: 'GET', path: '/admin/audit/trace/{jti}', params: { jti }, status: 200 });
    expect(traced.body).toMatchObject({
      token: { jti, client_id: 'travel-app', actors: [], audience: TRAVEL, scope: 'trips:read', status: 'active', allowed_by: { type: 'client_credentials', client_id: 'travel-app' }, event_id: event.id },
      origin: { type: 'client_credentials', client_id: 'travel-app' },
      subject: { iss: t.issuer, sub: 'travel-app' },
    });
    expect((traced.body as { chain: unknown[] }).chain).toEqual([(traced.body as { token: unknown }).token]);
    const unknown = await call({ method: 'GET', path: '/admin/audit/trace/{jti}', params: { jti: 'AAAAAAAAAAAAAAAAAAAAAA' }, status: 404 });
    expect(unknown.body).toMatchObject({ error: 'not_found' });
    for (const bad of ['has space', 'x'.repeat(129), 'a.b']) {
      const res = await call({ method: 'GET', path: '/admin/audit/trace/{jti}', params: { jti: bad }, paramSchema: 'invalid', status: 400 });
      expect(res.body).toMatchObject({ error: 'invalid_request', field: 'jti' });
    }
  });

  it('shadow agents: a sighting of an unknown client id is listed', async () => {
    await request(t.server).post('/token').auth('oa-ghost', 'whatever').type('form').send({ grant_type: 'client_credentials' }).expect(401);
    // A known client is no sighting.
    await request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form').send({ grant_type: 'client_credentials' }).expect(200);
    const res = await call({ method: 'GET', path: '/admin/shadow-agents', query: { limit: '10' }, querySchema: 'valid', status: 200 });
    expect(res.body).toMatchObject({ items: [expect.objectContaining({ client_id: 'oa-ghost', count: 1, endpoints: ['/token'] })], next_cursor: null });
  });

  it('every documented status of every operation was exercised', () => {
    const missing: string[] = [];
    for (const { method, path, op } of operations()) {
      for (const status of Object.keys(op.responses)) {
        if (!seen.has(`${method} ${path} ${status}`)) missing.push(`${method} ${path} ${status}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
