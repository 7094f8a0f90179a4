/**
 * The OpenAPI 3.1 document of the API, generated (never written by hand) from the route table
 * (shared/routes.ts) and the wire schemas: request parameters and bodies from
 * shared/wire/requests.ts, responses from shared/wire/responses.ts. Served at
 * GET /api/v1/openapi.json; test/contract/openapi.test.ts checks it documents exactly the routed
 * routes and validates as OpenAPI 3.1.
 */
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponseObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import { routeKey, routes as routeTable, type Route } from '../routes.js';
import { requestSchema } from './requests.js';
import { errorBody, isRawBody, responseSpec } from './responses.js';

export const OPENAPI_PATH = '/api/v1/openapi.json';

type Document = ReturnType<typeof createDocument>;

function operation(route: Route): ZodOpenApiOperationObject {
  const key = routeKey(route);
  const req = requestSchema(key);
  const res = responseSpec(key);
  if (!req) throw new Error(`route ${key} has no request schema in shared/wire/requests.ts`);
  if (!res) throw new Error(`route ${key} has no response schema in shared/wire/responses.ts`);

  const responses: Record<string, ZodOpenApiResponseObject> = {};
  for (const [status, body] of Object.entries(res.ok)) {
    if (body === undefined) continue;
    if (isRawBody(body)) {
      responses[status] =
        body.raw === 'empty'
          ? { description: body.description }
          : { description: body.description, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } };
    } else {
      responses[status] = { description: 'Success.', content: { 'application/json': { schema: body } } };
    }
  }
  responses['4XX'] = { description: "The request was refused: the error's code and a message that names the field.", content: { 'application/json': { schema: errorBody } } };
  responses['5XX'] = { description: 'Unavailable or internal error (never internal text): retry after Retry-After.', content: { 'application/json': { schema: errorBody } } };

  const op: ZodOpenApiOperationObject = {
    operationId: `${route.method.toLowerCase()}${route.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    summary: res.summary,
    tags: [route.localOnly ? 'local' : route.fn],
    security: route.auth === 'none' ? [] : [{ bearerAuth: [] }],
    responses: responses as ZodOpenApiResponsesObject,
  };
  const notes: string[] = [];
  if (route.auth === 'admin') notes.push('Admins only.');
  if (route.localOnly) notes.push('Served by the local runtime only (`npm start`); never deployed.');
  if (notes.length > 0) op.description = notes.join(' ');
  if (route.localOnly) Object.assign(op, { 'x-echofs-local-only': true });
  if (req.params || req.query) op.requestParams = { ...(req.params ? { path: req.params } : {}), ...(req.query ? { query: req.query } : {}) } as ZodOpenApiOperationObject['requestParams'];
  if (req.body && !route.binaryBody) {
    op.requestBody = { required: route.method !== 'DELETE', content: { 'application/json': { schema: req.body } } };
  } else if (route.binaryBody && key === 'POST /api/v1/files/upload') {
    op.requestBody = {
      required: true,
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            properties: { name: { type: 'string', description: 'Optional: the name to store the file under (sent before the file).' }, file: { type: 'string', contentMediaType: 'application/octet-stream' } },
            required: ['file'],
          },
        },
      },
    };
  } else if (route.binaryBody) {
    op.requestBody = { required: true, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } };
  }
  return op;
}

/** Build the document (the route table and schemas are static: build once and keep it). */
export function buildOpenApiDocument(table: readonly Route[] = routeTable): Document {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of table) {
    const item = (paths[route.path] ??= {});
    (item as Record<string, ZodOpenApiOperationObject>)[route.method.toLowerCase()] = operation(route);
  }
  return createDocument(
    {
      openapi: '3.1.0',
      info: {
        title: 'EchoFS API',
        version: '1',
        description:
          'EchoFS, a multi-region file store with adaptive consistency. The routes of the published EchoFS API keep their published shapes field for field (fields marked "Published"); the rest are extensions. Generated from the route table and the wire schemas.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      paths,
    },
    {
      // Responses may gain fields (the published API allows extra fields): no additionalProperties: false.
      override: ({ jsonSchema, io }) => {
        if (io === 'output' && jsonSchema.additionalProperties === false) delete jsonSchema.additionalProperties;
      },
    },
  );
}

let cached: Document | undefined;

/** The document, built on first use. */
export function openApiDocument(): Document {
  cached ??= buildOpenApiDocument();
  return cached;
}
