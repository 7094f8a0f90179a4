/**
 * The OpenAPI document (shared/wire/openapi.ts), generated from the route table and the wire
 * schemas: it documents every route of the table and nothing that is not routed, each templated
 * path parameter is declared, it validates as OpenAPI 3.1 (@seriousme/openapi-schema-validator,
 * the specification's own JSON Schema), and GET /api/v1/openapi.json serves it without a token.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeKey, routes } from '#shared/routes.js';
import { buildOpenApiDocument, OPENAPI_PATH } from '#shared/wire/openapi.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

interface Operation {
  parameters?: { in: string; name: string; required?: boolean }[];
  responses?: Record<string, unknown>;
  security?: unknown[];
}

function documented(doc: { paths?: Record<string, Record<string, unknown>> }): string[] {
  const out: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const m of METHODS) if (item[m]) out.push(`${m.toUpperCase()} ${path}`);
  }
  return out.sort();
}

describe('the generated OpenAPI document', () => {
  const doc = JSON.parse(JSON.stringify(buildOpenApiDocument())) as { openapi: string; paths: Record<string, Record<string, Operation>> };

  it('documents every route of the route table, and nothing that is not routed', () => {
    expect(documented(doc)).toEqual(routes.map(routeKey).sort());
  });

  it('declares each templated path parameter as a required path parameter, and a success response and an error response per operation', () => {
    for (const route of routes) {
      const op = doc.paths[route.path]?.[route.method.toLowerCase()] as Operation;
      const templated = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path' && p.required).map((p) => p.name).sort();
      expect(declared, routeKey(route)).toEqual(templated);
      const statuses = Object.keys(op.responses ?? {});
      expect(statuses.some((s) => /^2\d\d$/.test(s)), routeKey(route)).toBe(true);
      expect(statuses, routeKey(route)).toContain('4XX');
      expect(op.security, routeKey(route)).toEqual(route.auth === 'none' ? [] : [{ bearerAuth: [] }]);
    }
  });

  it('validates as OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 2000)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('a broken document fails the validator (the check is not vacuous)', async () => {
    const broken = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
    delete broken['info'];
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });
});

describe(`GET ${OPENAPI_PATH}`, () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({}, { schedules: false });
  });
  afterAll(() => stack?.stop());

  it('serves the document to anonymous callers, as JSON', async () => {
    const r = await stack.fetchJson(OPENAPI_PATH);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(r.body).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())));
  });
});
