/**
 * Input rules for the auth API, as zod schemas: the handler parses request bodies with them and
 * the AuthService checks its inputs with the same ones. Messages name the rule, and parseJson /
 * validate name the field.
 */
import { z } from 'zod';
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH } from './password.js';
import { noControlChars } from '../wire/fields.js';

export const USERNAME_RULE = "must be 3-32 characters: letters, digits, '.', '_' or '-'";
const USERNAME_RE = /^[A-Za-z0-9._-]{3,32}$/;
const EMAIL_RE = /^[^@\s]+@[^@\s]+$/;

export const usernameSchema = z.string().regex(USERNAME_RE, { message: USERNAME_RULE });

/** Emails are case-insensitive: trimmed and lower-cased before anything else sees them. */
export const emailSchema = z
  .string()
  .trim()
  .max(254, { message: 'must be at most 254 characters' })
  .refine(...noControlChars)
  .regex(EMAIL_RE, { message: 'must be an email address like name@example.com' })
  .transform((s) => s.toLowerCase());

export const newPasswordSchema = z
  .string()
  .min(MIN_PASSWORD_LENGTH, { message: `must be at least ${MIN_PASSWORD_LENGTH} characters` })
  .refine((p) => Buffer.byteLength(p, 'utf8') <= MAX_PASSWORD_BYTES, {
    message: `must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt reads no further)`,
  });

export const registerSchema = z.object({
  username: usernameSchema,
  email: emailSchema,
  password: newPasswordSchema,
});

export const loginSchema = z.object({
  email: z
    .string()
    .min(1, { message: 'must not be empty' })
    .max(254, { message: 'must be at most 254 characters' })
    .refine(...noControlChars)
    .transform((s) => s.trim().toLowerCase()),
  password: z.string().min(1, { message: 'must not be empty' }),
});

export const changePasswordSchema = z.object({
  current_password: z.string().min(1, { message: 'must not be empty' }),
  new_password: newPasswordSchema,
});

export type RegisterInput = z.input<typeof registerSchema>;
export type LoginInput = z.input<typeof loginSchema>;
export type ChangePasswordInput = z.input<typeof changePasswordSchema>;
