/**
 * Limits on what a user may store, each failing with a message that says what to fix.
 */
import { BadRequest, PayloadTooLarge } from '../errors.js';

export const MAX_NAME_BYTES = 255;

/** Throws BadRequest unless `name` is a valid file name; returns it NFC-normalised. */
export function validateName(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new BadRequest('File name is required: send a non-empty name.', 'invalid_name');
  const name = raw.normalize('NFC');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) {
    throw new BadRequest(`File name is ${bytes} bytes in UTF-8; shorten it to at most ${MAX_NAME_BYTES} bytes.`, 'invalid_name');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw new BadRequest('File name contains a control character (such as a newline or tab); remove it.', 'invalid_name');
  }
  if (/[/\\]/.test(name)) throw new BadRequest("File name must not contain '/' or '\\'; folders are not supported, use another character.", 'invalid_name');
  if (name === '.' || name === '..') throw new BadRequest("File name must not be '.' or '..'.", 'invalid_name');
  if (name.trim().length === 0) throw new BadRequest('File name must not be only spaces.', 'invalid_name');
  return name;
}

export function checkFileSize(size: number, maxFileBytes: number): void {
  if (size > maxFileBytes) {
    throw new PayloadTooLarge(`File is ${size} bytes; the maximum file size is ${maxFileBytes} bytes. Split it or ask for a larger limit.`, 'file_too_large');
  }
}

export function checkQuota(used: number, adding: number, quotaBytes: number): void {
  if (used + adding > quotaBytes) {
    throw new PayloadTooLarge(
      `Storing ${adding} more bytes would exceed your quota: ${used} of ${quotaBytes} bytes are used. Delete files you no longer need (files in the bin do not count) and retry.`,
      'quota_exceeded',
    );
  }
}
