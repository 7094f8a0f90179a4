/** HTTP byte ranges: resolving a Range header against a file's size (RFC 9110, single range). */
import { RangeNotSatisfiable } from '../errors.js';

/** Resolve an HTTP Range header against a size; undefined = whole body. Throws 416 when unsatisfiable. */
export function resolveRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Multi-range and malformed headers are ignored (whole body), as RFC 9110 allows.
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) throw new RangeNotSatisfiable(size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) throw new RangeNotSatisfiable(size);
  return { start, end };
}
