/**
 * The Idempotency-Key request header of the routes flagged `idempotent` in the route table
 * (behaviour: shared/idempotency.ts). Its own module so the wire schemas and the mechanism share it
 * without importing each other.
 */
import { z } from 'zod';

/** 1–255 printable ASCII characters without spaces (a UUID, a ULID, a client's own scheme). */
export const idempotencyKey = z
  .string()
  .min(1, { message: 'must not be empty' })
  .max(255, { message: 'must be at most 255 characters' })
  .regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces (e.g. a UUID)' });

/** The request-header schema of an idempotent route (a 400 names the header). */
export const idempotencyHeaders = z.object({ 'idempotency-key': idempotencyKey.optional() });
