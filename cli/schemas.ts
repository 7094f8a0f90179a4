/**
 * The parts of the server's answers the client reads, checked as they arrive: a server that
 * answers in another shape gets a clear "unexpected answer" rather than undefined behaviour.
 * These are the server's own response schemas (shared/wire/responses.ts): fields they do not
 * declare are dropped, so a newer server that adds fields keeps working with this client.
 */
import { z } from 'zod';
import * as W from '#shared/wire/responses.js';

export const sessionAnswer = W.sessionBody;
export const profileAnswer = W.profileBody;

/** A file as the list, upload, commit and restore routes describe it. */
export const fileItem = W.fileBody;
export type FileItem = W.FileBody;

export const listAnswer = W.fileListBody;
export const fileAnswer = W.fileEnvelope;
export const uploadSessionAnswer = W.uploadSessionEnvelope;

export const manifestAnswer = W.manifestBody;
export type Manifest = W.ManifestBody['data'];

export const versionsAnswer = W.versionsBody;
export const modeAnswer = W.modeBody;

/** Anything JSON (status, health, critical keys, acknowledgements): shown as the server sent it. */
export const anyObject = z.looseObject({});
