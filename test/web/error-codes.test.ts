/**
 * The web app has a sentence for every error code the server can send: the codes are read from the
 * server's source (functions/, shared/, infra/local/: the error classes' defaults, every code
 * passed to an error constructor, every `code: '…'` of a hand-built error body, and the exported
 * code constants), so a new code without a sentence fails here. A 5xx never shows server text.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODE_MESSAGES, friendlyApiMessage } from '../../web/src/api.js';

const ROOT = resolve(import.meta.dirname, '../..');

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The text between the parenthesis at `open` and its match (strings and templates skipped). */
function args(s: string, open: number): string {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < s.length && s[i] !== c; i++) if (s[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return s.slice(open + 1, i);
  }
  return '';
}

/** Every error code the server's source can put in an error body. */
function serverCodes(): Set<string> {
  const codes = new Set<string>();
  const CLASSES = 'BadRequest|Unauthorized|Forbidden|NotFound|MethodNotAllowed|Conflict|PreconditionFailed|PayloadTooLarge|RangeNotSatisfiable|Unavailable|HttpError|Throttled';
  for (const file of ['functions', 'shared', 'infra/local'].flatMap((d) => sources(join(ROOT, d)))) {
    const s = readFileSync(file, 'utf8');
    // Codes passed as arguments: a snake_case literal standing alone as an argument.
    for (const m of s.matchAll(new RegExp(`new (?:${CLASSES})\\(`, 'g'))) {
      const a = args(s, (m.index ?? 0) + m[0].length - 1);
      for (const c of a.matchAll(/(?:^|,)\s*'([a-z][a-z0-9_]*)'\s*(?=,|$)/g)) codes.add(c[1] as string);
    }
    // Defaults of the error classes and codes given to super(status, 'code', …).
    for (const m of s.matchAll(/code = '([a-z][a-z0-9_]*)'/g)) codes.add(m[1] as string);
    for (const m of s.matchAll(/super\(\d{3}, '([a-z][a-z0-9_]*)'/g)) codes.add(m[1] as string);
    // Hand-built error bodies and code constants.
    for (const m of s.matchAll(/(?:errorJson\([^,]+, \d{3}, |errorBody\()'([a-z][a-z0-9_]*)'/g)) codes.add(m[1] as string);
    for (const m of s.matchAll(/error: \{\s*code: '([a-z][a-z0-9_]*)'/g)) codes.add(m[1] as string);
    for (const m of s.matchAll(/export const [A-Z_]+ = '([a-z]+_[a-z0-9_]+)';/g)) if (/too_large|unavailable|not_found/.test(m[1] as string)) codes.add(m[1] as string);
  }
  return codes;
}

describe('friendly error texts', () => {
  it('the scan of the server finds its codes (the check is not vacuous)', () => {
    const codes = serverCodes();
    for (const known of ['file_not_found', 'name_taken', 'quota_exceeded', 'replicas_unavailable', 'version_mismatch', 'invalid_field', 'too_many_attempts', 'internal_error', 'method_not_allowed', 'download_too_large', 'starting']) {
      expect(codes, known).toContain(known);
    }
    expect(codes.size).toBeGreaterThan(45);
  });

  it('has a sentence for every code the server emits', () => {
    const missing = [...serverCodes()].filter((c) => !Object.prototype.hasOwnProperty.call(CODE_MESSAGES, c)).sort();
    expect(missing).toEqual([]);
  });

  it('shows the server text for a 4xx where it carries the specifics, a fixed text otherwise, and never a 5xx text', () => {
    expect(friendlyApiMessage(409, 'name_taken', "A file named 'a.txt' exists already.")).toBe("A file named 'a.txt' exists already.");
    expect(friendlyApiMessage(409, 'name_taken', undefined)).toBe('A file with this name exists already. Choose another name.');
    expect(friendlyApiMessage(401, 'invalid_credentials', 'Invalid email or password.')).toBe('Wrong email or password.');
    expect(friendlyApiMessage(503, 'unavailable', 'ECONNREFUSED 10.0.0.1')).not.toContain('ECONNREFUSED');
    expect(friendlyApiMessage(500, 'internal_error', 'TypeError: x is undefined')).not.toContain('TypeError');
    for (const [code, m] of Object.entries(CODE_MESSAGES)) {
      const text = friendlyApiMessage(503, code, 'SECRET internal detail');
      expect(text, code).not.toContain('SECRET');
      expect(typeof m === 'string' ? m : m.fallback, code).toMatch(/^[A-Z].*[.!]$/);
    }
  });
});
