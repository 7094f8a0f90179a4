/**
 * Wire bodies shared by every part of the API: the enums and field shapes, the error and message
 * envelopes, and the auth bodies (user, session, profile). Re-exported by shared/wire/responses.ts,
 * which maps each route to its bodies.
 */
import { z } from 'zod';

// ---------------------------------------------------------------- fields

export const modeEnum = z.enum(['C', 'H', 'A']).meta({ description: 'Consistency mode: C strong, H hybrid, A available.' });
export type WireMode = z.infer<typeof modeEnum>;
export const roleEnum = z.enum(['user', 'admin']);
export type WireRole = z.infer<typeof roleEnum>;
export const hintEnum = z.enum(['strong', 'available', 'none']);
export type WireHint = z.infer<typeof hintEnum>;
export const faultStateEnum = z.enum(['up', 'blackhole', 'refuse']);

/** A timestamp as the API writes it (Date#toISOString). */
export const iso = z.iso.datetime({ offset: true });
export const published = (description: string) => ({ description: `Published field. ${description}` });

// ---------------------------------------------------------------- common bodies

/** Every error answer: a code, a sentence for clients, the request id, sometimes the field at fault. */
export const errorBody = z
  .looseObject({
    success: z.literal(false),
    error: z.looseObject({
      code: z.string(),
      message: z.string(),
      field: z.string().optional(),
      request_id: z.string().optional(),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof errorBody>;

/** `{success: true, message}`: an acknowledgement with nothing more to say. */
export const messageBody = z.object({ success: z.literal(true), message: z.string() }).meta({ id: 'Message' });
export type MessageBody = z.infer<typeof messageBody>;

// ---------------------------------------------------------------- auth

export const userBody = z
  .object({ id: z.string(), username: z.string(), email: z.string(), role: roleEnum })
  .meta({ id: 'User', description: 'Published: the user (id, username, email, role).' });
export type UserBody = z.infer<typeof userBody>;

export const sessionBody = z
  .object({ success: z.literal(true), token: z.string().meta(published('A JWT bearer token.')), user: userBody, message: z.string().optional() })
  .meta({ id: 'Session', description: 'Published: register and login answer {success, token, user}.' });
export type SessionBody = z.infer<typeof sessionBody>;

export const profileBody = z.object({ success: z.literal(true), user: userBody }).meta({ id: 'Profile' });
export type ProfileBody = z.infer<typeof profileBody>;
