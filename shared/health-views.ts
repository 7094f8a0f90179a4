/**
 * What each caller may see of the system's health. Anonymous callers get up/degraded/down per
 * component (and region names), nothing more; signed-in users get the replica picture without
 * error text; admins get everything, error text included. Raw replica and SDK errors never reach
 * anyone else: they are in the log.
 */
import type { HealthReport, ReplicaView, StatusReport } from './controller/service.js';
import type { Role } from './http.js';

export type ComponentStatus = 'up' | 'degraded' | 'down';

export interface ServiceHealth {
  success: boolean;
  status: 'ok' | 'degraded' | 'down';
  catalog: { ok: boolean; error?: string };
  replicas: Record<string, { ok: boolean; latencyMs: number; error?: string }>;
  quorum: number;
  controller?: { ok: boolean; error?: string };
}

const up = (ok: boolean): ComponentStatus => (ok ? 'up' : 'down');

/** GET /api/v1/health: admins see the details, everyone else a status per component (`ok` kept for existing clients). */
export function serviceHealthView(h: ServiceHealth, role: Role | undefined) {
  if (role === 'admin') return h;
  return {
    success: h.success,
    status: h.status,
    catalog: { ok: h.catalog.ok, status: up(h.catalog.ok) },
    replicas: Object.fromEntries(Object.entries(h.replicas).map(([region, r]) => [region, { ok: r.ok, status: up(r.ok) }])),
    quorum: h.quorum,
    ...(h.controller ? { controller: { ok: h.controller.ok, status: up(h.controller.ok) } } : {}),
  };
}

/** GET /health, /v1/health: the controller's health; replicas by region and status unless admin. */
export function controllerHealthView(h: HealthReport, role: Role | undefined) {
  if (role === 'admin') return h;
  return { ...h, replicas: h.replicas.map((r) => ({ region: r.region, reachable: r.reachable, status: up(r.reachable) })) };
}

/** A replica's last error for non-admins: whether it is unreachable now, never the error text. */
function redactReplica(r: ReplicaView): ReplicaView {
  return { ...r, last_error: r.reachable ? null : 'unreachable' };
}

/** GET /status, /v1/status (signed-in users): admins see replica error text, users do not. */
export function statusView(s: StatusReport, role: Role | undefined): StatusReport {
  if (role === 'admin') return s;
  return { ...s, replicas: s.replicas.map(redactReplica) };
}
