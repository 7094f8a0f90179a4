/**
 * The parts of the server's answers the client reads, checked as they arrive: a server that
 * answers in another shape gets a clear "unexpected answer" rather than undefined behaviour.
 * Unknown fields pass through (the API adds fields; it never removes published ones).
 */
import { z } from 'zod';

const user = z.looseObject({ id: z.string(), username: z.string(), email: z.string(), role: z.string() });

export const sessionAnswer = z.looseObject({ token: z.string().min(1), user });
export const profileAnswer = z.looseObject({ user });

/** A file as the list, upload, commit and restore routes describe it. */
export const fileItem = z.looseObject({
  file_id: z.string(),
  name: z.string(),
  size: z.number(),
  uploaded: z.string().nullable().optional(),
  chunks: z.number().optional(),
  version: z.number().optional(),
  sha256: z.string().optional(),
  mode: z.string().optional(),
  deleted: z.string().optional(),
});
export type FileItem = z.infer<typeof fileItem>;

export const listAnswer = z.looseObject({
  data: z.array(fileItem),
  next_cursor: z.string().nullable().optional(),
});

export const fileAnswer = z.looseObject({ data: fileItem });

export const uploadSessionAnswer = z.looseObject({
  data: z.looseObject({ upload_id: z.string(), missing: z.array(z.string()), committed: z.boolean().optional() }),
});

export const manifestAnswer = z.looseObject({
  data: z.looseObject({
    file_id: z.string(),
    name: z.string(),
    size: z.number(),
    version: z.number(),
    sha256: z.string(),
    chunk_size: z.number(),
    chunks: z.array(
      z.looseObject({
        index: z.number(),
        hash: z.string(),
        size: z.number(),
        offset: z.number(),
        compressed: z.boolean().optional(),
        url: z.string().nullable().optional(),
      }),
    ),
  }),
});
export type Manifest = z.infer<typeof manifestAnswer>['data'];

export const versionsAnswer = z.looseObject({
  data: z.looseObject({
    file_id: z.string().optional(),
    versions: z.array(
      z.looseObject({ version: z.number(), size: z.number(), sha256: z.string(), uploaded: z.string().nullable().optional(), mode: z.string().optional(), current: z.boolean().optional() }),
    ),
  }),
});

export const modeAnswer = z.looseObject({ object_id: z.string().nullable(), mode: z.string(), reason: z.string(), timestamp: z.string() });

/** Anything JSON (status, health, critical keys, acknowledgements): shown as the server sent it. */
export const anyObject = z.looseObject({});
