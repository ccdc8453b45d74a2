/**
 * Headers that describe an answer's body byte for byte. When cupbearer rewrites or drops a body
 * they would describe a body the client never gets: botocore checks DynamoDB's `x-amz-crc32`
 * and, on a mismatch, raises ChecksumError and retries instead of showing the real error.
 */

/** Exact names; `x-amz-checksum-*` is matched by prefix. */
const DIGESTS = new Set(["content-md5", "etag", "x-amz-crc32", "digest", "repr-digest", "content-digest"]);

/** Removes every header that describes the body's bytes (Content-Length is the caller's to set). */
export function dropBodyDigests(headers: Record<string, unknown>): void {
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (DIGESTS.has(lower) || lower.startsWith("x-amz-checksum-")) delete headers[name];
  }
}
