/**
 * The controller function: the original consistency-controller API (/v1/*). Thin: validate,
 * call the ControllerService, shape the response.
 */
import type * as W from '#shared/wire/responses.js';
import { BadRequest, NotFound } from '#shared/errors.js';
import { inputOf, json, type ApiRequest, type Authenticator } from '#shared/http.js';
import { createApiHandler } from '#functions/_lib/api.js';
import { apiEntry } from '#functions/_lib/cold-start.js';
import { controllerHealthView, statusView } from '#shared/health-views.js';
import { criticalKeysBody, hintAck, modeBody, overrideAck } from '#shared/responses.js';
import type { Actor, ControllerService } from '#shared/controller/service.js';

export interface ControllerHandlerDeps {
  controller: ControllerService;
  authenticator: Authenticator;
}

function actor(req: ApiRequest): Actor {
  if (!req.user) throw new Error('controller route reached without an authenticated user');
  return { id: req.user.id, email: req.user.email, role: req.user.role };
}

/** DELETE /v1/critical-keys: the key from the query string, else from the optional JSON body. */
function criticalKeyOf(req: ApiRequest): string {
  const { query, body } = inputOf(req, 'DELETE /v1/critical-keys');
  const key = query.key ?? query.object_id ?? body.key ?? body.object_id;
  if (key === undefined) throw new BadRequest("Field 'key' is required: send it in the query string (?key=) or a JSON body.", 'invalid_field', { field: 'key' });
  return key;
}

export function createHandler(deps: ControllerHandlerDeps) {
  const { controller, authenticator } = deps;
  const health = async (req: ApiRequest) => {
    const h = await controller.healthReport();
    return json(h.status === 'unhealthy' ? 503 : 200, controllerHealthView(h, req.user?.role));
  };
  const status = async (req: ApiRequest) => json(200, statusView(await controller.status(), req.user?.role));
  return createApiHandler(
    'controller',
    {
      'GET /v1/mode': async (req) => {
        const q = inputOf(req, 'GET /v1/mode').query;
        const a = await controller.modeAnswer(q.object_id);
        return json(200, modeBody(q.object_id, a, new Date(a.timestamp)));
      },
      'POST /v1/hint': async (req) => {
        const b = inputOf(req, 'POST /v1/hint').body;
        const r = await controller.setHint(actor(req), b.object_id, b.hint);
        return json(200, { ...hintAck(r.object_id, r.hint, (await controller.modeAnswer(b.object_id)).mode), protects: r.protects } satisfies W.HintAck);
      },
      'POST /v1/override': async (req) => {
        const b = inputOf(req, 'POST /v1/override').body;
        const r = await controller.setOverride(actor(req), b.mode, b.object_id);
        return json(200, { ...overrideAck(r.mode, r.object_id), protects: r.protects } satisfies W.OverrideAck);
      },
      'DELETE /v1/override': async (req) => {
        const q = inputOf(req, 'DELETE /v1/override').query;
        const r = await controller.clearOverride(actor(req), q.object_id);
        if (!r.cleared) throw new NotFound(q.object_id ? `No override for '${q.object_id}'.` : 'No global override is set.', 'override_not_found');
        return json(200, { success: true, ...r });
      },
      'GET /v1/critical-keys': async () => {
        return json(200, criticalKeysBody(await controller.listCriticalKeys()));
      },
      'POST /v1/critical-keys': async (req) => {
        const b = inputOf(req, 'POST /v1/critical-keys').body;
        const key = (b.key ?? b.object_id) as string;
        const protects = await controller.addCriticalKey(actor(req), key);
        return json(201, { success: true, key, mode: 'C', protects } satisfies W.CriticalKeyAddedBody);
      },
      'DELETE /v1/critical-keys': async (req) => {
        const key = criticalKeyOf(req);
        const protects = await controller.removeCriticalKey(actor(req), key);
        if (!protects) throw new NotFound(`'${key}' is not a critical key.`, 'critical_key_not_found');
        return json(200, { success: true, key, protects } satisfies W.CriticalKeyRemovedBody);
      },
      'GET /v1/health': health,
      'GET /health': health,
      'GET /v1/status': status,
      'GET /status': status,
      'GET /v1/audit': async (req) => {
        const q = inputOf(req, 'GET /v1/audit').query;
        const page = await controller.auditLog({ limit: q.limit ?? 50, cursor: q.cursor });
        return json(200, {
          success: true,
          entries: page.entries.map((e) => ({ ...e, time: new Date(e.at).toISOString() })),
          next_cursor: page.cursor ?? null,
        });
      },
      'GET /v1/history': async (req) => {
        const report = await controller.history(inputOf(req, 'GET /v1/history').query);
        return json(200, { success: true, ...report } satisfies W.HistoryBody);
      },
    },
    { authenticator },
  );
}

// Lambda entry point: services are built once per cold start, on the first request.
export const handler = apiEntry('controller', (services) => {
  if (!services.controller) throw new Error('the controller function needs a controller table (ECHOFS_TABLE, DYNAMODB_ENDPOINT locally)');
  return createHandler({ controller: services.controller, authenticator: services.authenticator });
});
