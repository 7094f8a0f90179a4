/**
 * The published EchoFS API's response shapes (shared/published-api.md), and our documented
 * extensions of each, as data: a contract test checks a live answer against them key for key.
 */

export type FieldType = 'string' | 'number' | 'boolean' | 'iso' | 'array' | 'object' | 'null' | `literal:${string}` | `enum:${string}`;

export interface Shape {
  /** Fields the published API promises, with their types (a field may allow several, e.g. string|null). */
  published: Record<string, FieldType | FieldType[]>;
  /** Our own fields beside them: documented in the README; none may appear undocumented. */
  extensions: Record<string, FieldType | FieldType[]>;
}

const user: Shape = {
  published: { id: 'string', username: 'string', email: 'string', role: 'enum:user|admin' },
  extensions: {},
};

export const SHAPES = {
  user,
  /** POST /api/v1/auth/register and /login. */
  session: { published: { success: 'literal:true', token: 'string', user: 'object' }, extensions: {} },
  /** GET /api/v1/auth/profile. */
  profile: { published: { success: 'literal:true', user: 'object' }, extensions: {} },
  /** POST /api/v1/files/upload → data. */
  uploaded: {
    published: { file_id: 'string', chunks: 'number', compressed: 'boolean', file_size: 'number' },
    extensions: { name: 'string', size: 'number', version: 'number', sha256: 'string', content_type: 'string', mode: 'enum:C|H|A', uploaded: 'iso', created: 'iso', ack: 'object' },
  },
  /** GET /api/v1/files (the envelope). */
  list: {
    published: { success: 'literal:true', data: 'array' },
    extensions: { count: 'number', limit: 'number', next_cursor: ['string', 'null'] },
  },
  /** GET /api/v1/files → data[i]. */
  listItem: {
    published: { file_id: 'string', name: 'string', size: 'number', uploaded: 'iso', chunks: 'number' },
    extensions: {
      file_size: 'number',
      version: 'number',
      compressed: 'boolean',
      sha256: 'string',
      content_type: 'string',
      mode: 'enum:C|H|A',
      created: 'iso',
      replicas: 'object',
      /** Only in the bin (?deleted=true). */
      deleted: 'iso',
    },
  },
  /** DELETE /api/v1/files/{id}. */
  deleted: {
    published: { success: 'literal:true', message: 'literal:File deleted successfully' },
    extensions: { file_id: 'string', restorable: 'boolean', hint: 'string' },
  },
  /** GET /v1/mode?object_id=. */
  mode: { published: { object_id: 'string', mode: 'enum:C|H|A', reason: 'string', timestamp: 'iso' }, extensions: {} },
  /** POST /v1/hint: an acknowledgement. */
  hint: {
    published: {},
    extensions: { success: 'literal:true', status: 'literal:success', object_id: 'string', hint: 'enum:strong|available|none', mode: 'enum:C|H|A', protects: 'object' },
  },
  /** POST /v1/override: an acknowledgement. */
  override: {
    published: {},
    extensions: { success: 'literal:true', status: 'literal:success', mode: 'enum:C|H|A', object_id: ['string', 'null'], protects: ['object', 'null'] },
  },
  /** GET /v1/critical-keys: the always-strong keys. */
  criticalKeys: { published: { critical_keys: 'array' }, extensions: { success: 'literal:true', count: 'number', items: 'array' } },
  /** GET /api/v1/health: health of the service. */
  health: {
    published: {},
    extensions: { success: 'boolean', status: 'enum:ok|degraded|down', catalog: 'object', replicas: 'object', quorum: 'number', controller: 'object' },
  },
  /** GET /health and /v1/health: the controller's health. */
  controllerHealth: {
    published: {},
    extensions: {
      status: 'enum:healthy|degraded|unhealthy',
      mode: 'enum:C|H|A',
      replicas: 'array',
      reachable: 'number',
      total: 'number',
      quorum_available: 'boolean',
      controller_store: 'enum:ok|unavailable',
      timestamp: 'iso',
    },
  },
} satisfies Record<string, Shape>;

function typeOf(v: unknown, t: FieldType): boolean {
  if (t.startsWith('literal:')) return String(v) === t.slice(8) && (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number');
  if (t.startsWith('enum:')) return typeof v === 'string' && t.slice(5).split('|').includes(v);
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'iso':
      return typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && Number.isFinite(Date.parse(v));
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'null':
      return v === null;
  }
  return false;
}

/**
 * The differences between a value and a shape, as sentences (empty when it conforms): a published
 * field missing or of another type, an extension of another type, or a field that is neither.
 */
export function shapeErrors(value: unknown, shape: Shape, where = 'body'): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${where} is not a JSON object`];
  const v = value as Record<string, unknown>;
  const out: string[] = [];
  const check = (key: string, types: FieldType | FieldType[], published: boolean) => {
    const list = Array.isArray(types) ? types : [types];
    if (!(key in v)) {
      if (published) out.push(`${where}.${key} is missing (published field)`);
      return;
    }
    if (!list.some((t) => typeOf(v[key], t))) out.push(`${where}.${key} is ${JSON.stringify(v[key])}, not ${list.join(' or ')}`);
  };
  for (const [k, t] of Object.entries(shape.published)) check(k, t, true);
  for (const [k, t] of Object.entries(shape.extensions)) check(k, t, false);
  for (const k of Object.keys(v)) {
    if (!(k in shape.published) && !(k in shape.extensions)) out.push(`${where}.${k} is not a documented field`);
  }
  return out;
}
