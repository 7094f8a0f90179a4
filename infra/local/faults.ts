/**
 * The 'local' function: fault injection control, served only by the local runtime (the routes are
 * localOnly in the route table and never deployed). Admin only.
 *
 *   GET  /api/v1/local/faults  -> {success, faults: {region: {state, latency_ms, jitter_ms, loss}}}
 *   POST /api/v1/local/faults  {region, state, latency_ms?, jitter_ms?, loss?} -> {success, region, fault}
 *
 * A POST sets the region's whole fault picture: fields left out go back to 0. Each POST is recorded
 * in the controller's audit log with the admin who sent it (inject_fault, or heal_fault when it
 * brings the region back to no fault at all), so the dashboard's timeline marks it.
 */
import { inputOf, json, type Authenticator } from '#shared/http.js';
import { createApiHandler } from '#functions/_lib/api.js';
import { BadRequest } from '#shared/errors.js';
import { logger } from '#shared/observability.js';
import type { ControllerStore } from '#shared/controller/store.js';
import type { FaultProxy, FaultSettings } from './faultproxy.js';

/** Per-region control of the fault proxies. */
export interface FaultControl {
  regions(): string[];
  /** Every region's current settings. */
  all(): Record<string, FaultSettings>;
  get(region: string): FaultSettings;
  /** Merge the given settings into the region's; throws RangeError for an unknown region or a bad value. */
  set(region: string, settings: Partial<FaultSettings>): FaultSettings;
}

export function faultControl(proxies: Record<string, FaultProxy>): FaultControl {
  const proxy = (region: string): FaultProxy => {
    const p = proxies[region];
    if (!p) throw new RangeError(`unknown region '${region}'; known: ${Object.keys(proxies).join(', ')}`);
    return p;
  };
  return {
    regions: () => Object.keys(proxies),
    all: () => Object.fromEntries(Object.entries(proxies).map(([r, p]) => [r, p.get()])),
    get: (region) => proxy(region).get(),
    set: (region, settings) => proxy(region).set(settings),
  };
}

export interface LocalDeps {
  authenticator: Authenticator;
  faults: FaultControl;
  /** Where fault actions are audited (the controller's store); none without a controller. */
  audit?: Pick<ControllerStore, 'appendAudit'>;
}

const isClear = (f: FaultSettings): boolean => f.state === 'up' && f.latency_ms === 0 && f.jitter_ms === 0 && f.loss === 0;

/** The audit entry of one fault change: a heal when it clears the region's faults, else an injection. */
export function faultAuditOf(region: string, before: FaultSettings, after: FaultSettings, actor: string) {
  const heal = isClear(after);
  const parts = [after.state === 'up' ? undefined : after.state, after.latency_ms ? `+${after.latency_ms} ms` : undefined, after.jitter_ms ? `±${after.jitter_ms} ms jitter` : undefined, after.loss ? `${Math.round(after.loss * 100)}% loss` : undefined].filter(Boolean);
  return {
    kind: 'operator' as const,
    actor,
    action: heal ? 'heal_fault' : 'inject_fault',
    reason: heal ? `${region} healed (was ${before.state})` : `${region}: ${parts.join(', ')}`,
    detail: { region, before, after },
  };
}

export function createHandler(deps: LocalDeps) {
  return createApiHandler(
    'local',
    {
      'GET /api/v1/local/faults': async () => json(200, { success: true, faults: deps.faults.all() }),
      'POST /api/v1/local/faults': async (req) => {
        const { body } = inputOf(req, 'POST /api/v1/local/faults');
        if (!deps.faults.regions().includes(body.region)) {
          throw new BadRequest(`Unknown region '${body.region}'; known regions: ${deps.faults.regions().join(', ')}.`, 'invalid_field', { field: 'region' });
        }
        const before = deps.faults.get(body.region);
        const fault = deps.faults.set(body.region, {
          state: body.state,
          latency_ms: body.latency_ms ?? 0,
          jitter_ms: body.jitter_ms ?? 0,
          loss: body.loss ?? 0,
        });
        const actor = req.user?.email ?? req.user?.id ?? 'unknown';
        logger.info('fault injected', { region: body.region, fault, actor });
        if (deps.audit) {
          // The fault is in force whether or not its record is stored: a failed record is logged, not answered as a failure.
          await deps.audit.appendAudit(faultAuditOf(body.region, before, fault, actor)).catch((err: unknown) => logger.warn('fault action not audited', { region: body.region, error: err as Error }));
        }
        return json(200, { success: true, region: body.region, fault });
      },
    },
    { authenticator: deps.authenticator },
  );
}
