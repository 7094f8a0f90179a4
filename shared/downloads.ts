/**
 * The download contract between the cloud deployment, the web app and the API's clients: how much
 * one streamed download may carry, and which header carries the bearer token to the streaming
 * function. Constants only, with no Node.js imports, so the web app imports this file as well.
 */

/**
 * Most bytes one streamed download response may carry. A Lambda Function URL streams at most
 * 200 MB per response (AWS quota; read here as 200,000,000 bytes, the lower reading), and after the
 * first 6 MB at a capped bandwidth. A file (or a Range) larger than this is refused by the
 * streaming endpoint with 413 `download_too_large`: fetch it chunk by chunk from the presigned URLs
 * of GET /api/v1/files/{id}/manifest, or in Range requests of at most this size.
 */
export const STREAM_MAX_BYTES = 200_000_000;

/**
 * Header that carries `Bearer <token>` to the streaming download endpoint. In the cloud, CloudFront
 * signs its requests to the Function URL with SigV4 (origin access control), which takes the
 * Authorization header; the token travels in this one instead. Clients may send both: the
 * CloudFront distribution also copies a viewer's `Authorization: Bearer …` into it.
 */
export const DOWNLOAD_TOKEN_HEADER = 'x-echofs-authorization';

/** Error code of a download refused for its size. */
export const DOWNLOAD_TOO_LARGE = 'download_too_large';

/** Path of a file's manifest (chunk list with presigned URLs). */
export function manifestPath(fileId: string, version?: number): string {
  return `/api/v1/files/${encodeURIComponent(fileId)}/manifest${version !== undefined ? `?version=${version}` : ''}`;
}
