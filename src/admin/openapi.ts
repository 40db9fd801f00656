import { z } from 'zod';

import { ID_PATTERN, type Route } from './router.js';
import { errorBody } from './schemas.js';

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'bad input: `field` names the field, `error_description` the problem',
  401: 'missing or wrong admin token (no detail)',
  404: 'no record with this id',
  409: 'conflicts with what exists (a taken or retired id, a state that forbids the change)',
};

type JsonSchema = Record<string, unknown>;

/**
 * The OpenAPI 3.1 document of the admin API, generated from the route table. Schemas are JSON
 * Schema 2020-12 (OpenAPI 3.1's dialect) converted from the same zod schemas that validate requests,
 * with named ones under components.
 */
export function openApiDocument(routes: readonly Route[], issuer: string, version: string): JsonSchema {
  const components: Record<string, JsonSchema> = {};
  const convert = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    // Named schemas (`.meta({ id })`) come out under $defs; they become components.
    const text = JSON.stringify(z.toJSONSchema(schema, { io, unrepresentable: 'any' })).replaceAll('"#/$defs/', '"#/components/schemas/');
    const { $schema: _dialect, $defs, ...json } = JSON.parse(text) as JsonSchema & { $defs?: Record<string, JsonSchema> };
    for (const [name, def] of Object.entries($defs ?? {})) {
      if (components[name] !== undefined && JSON.stringify(components[name]) !== JSON.stringify(def)) {
        throw new Error(`schema ${name} has two shapes (${io}); give the variants their own ids`);
      }
      components[name] = def;
    }
    return json;
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: JsonSchema[] = [];
    for (const [, name] of r.path.matchAll(/\{(\w+)\}/g)) {
      parameters.push({ name, in: 'path', required: true, schema: { type: 'string', pattern: r.paramPatterns?.[name] ?? ID_PATTERN } });
    }
    if (r.query) {
      const query = convert(r.query, 'input');
      const properties = (query.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((query.required ?? []) as string[]);
      for (const [name, schema] of Object.entries(properties)) {
        const { description, ...rest } = schema;
        parameters.push({ name, in: 'query', required: required.has(name), schema: rest, ...(description ? { description } : {}) });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(r.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.schema ? { content: { 'application/json': { schema: convert(response.schema, 'output') } } } : {}),
      };
    }
    for (const status of [...r.errors, 401]) {
      responses[String(status)] = { description: ERROR_DESCRIPTIONS[status], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    (paths[r.path] ??= {})[r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: convert(r.body, 'input') } } } } : {}),
      responses,
    };
  }
  convert(errorBody, 'output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'Mandate admin API',
      version,
      description: 'Agents, users, delegations, reviews and shadow-agent sightings. Authenticate with `Authorization: Bearer $MANDATE_ADMIN_TOKEN`.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: issuer }],
    security: [{ adminToken: [] }],
    paths,
    components: {
      schemas: components,
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'MANDATE_ADMIN_TOKEN' } },
    },
  };
}
