/**
 * Field rules shared by the request schemas: what an id, a hash, a name, an email or a media type
 * must look like before any of them reaches the catalog or a replica. Each rule's message names
 * the rule; `validate` (shared/http.ts) names the field.
 */
import { parse as parseContentType } from 'content-type';
import { z } from 'zod';

/** C0 and C1 control characters, DEL included (NUL is one of them). */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** The refinement every free-text field gets: `z.string().refine(...noControlChars)`. */
export const noControlChars = [(s: string) => !CONTROL_CHARS.test(s), { message: 'must not contain NUL or other control characters' }] as const;

/** A string with no NUL or other control character (PostgreSQL rejects NUL in text). */
export const text = z.string().refine(...noControlChars);

/** A canonical UUID, as the catalog's uuid columns hold them. */
export const uuid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { message: 'must be a UUID such as 3f2b6c1e-0d4a-4c7e-9a55-2e1f0b8c7d61' })
  .transform((s) => s.toLowerCase());

/** A SHA-256 in hex (chunk and file hashes); upper case is accepted and lower-cased. */
export const sha256Hex = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, { message: 'must be 64 hex characters (a SHA-256)' })
  .transform((s) => s.toLowerCase());

/** A file name as sent; shared/storage/limits.ts validateName applies the full rules. */
export const fileName = z
  .string()
  .min(1, { message: 'must not be empty' })
  .max(4096, { message: 'must be at most 4096 characters' })
  .pipe(text);

/**
 * A media type (RFC 9110 `type/subtype` with optional parameters), printable ASCII only so it can
 * be sent back as a Content-Type header: parsed by the `content-type` package, returned as sent.
 */
export const mediaType = z
  .string()
  .max(255, { message: 'must be at most 255 characters' })
  .refine((s) => /^[\x20-\x7e]+$/.test(s), { message: 'must be printable ASCII' })
  .refine(
    (s) => {
      try {
        parseContentType(s);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be a media type such as text/plain or application/octet-stream' },
  );

/** A positive integer in a query string (`?version=3`). */
export const positiveIntParam = z
  .string()
  .regex(/^[0-9]{1,15}$/, { message: 'must be a positive integer' })
  .transform(Number)
  .refine((n) => n >= 1, { message: 'must be a positive integer' });
