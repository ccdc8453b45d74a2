/**
 * S3's `aws-chunked` upload framings, decided from the request headers: which one a request
 * uses, and what cupbearer sends instead. Pure; the streaming decoder is aws/chunked-body.
 *
 * The framings (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html,
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html):
 * - `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `<hex>\r\n<data>\r\n` … `0\r\n<trailer>\r\n\r\n`.
 *   Nothing in it is signed with the client's keys: it streams through unchanged.
 * - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: each chunk carries `;chunk-signature=`
 *   made with the client's (dummy) keys, and the trailer an `x-amz-trailer-signature`. Those
 *   signatures cannot pass upstream: the body is re-framed in the unsigned-trailer form.
 */
import { Refusal } from "../errors.js";

export const STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
const SIGNED_CHUNKS = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const SIGNED_CHUNKS_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";

/** Checksum trailers S3 accepts, with the length of their base64 value. */
export const CHECKSUM_TRAILERS: Readonly<Record<string, number>> = {
  "x-amz-checksum-crc32": 8,
  "x-amz-checksum-crc32c": 8,
  "x-amz-checksum-crc64nvme": 12,
  "x-amz-checksum-sha1": 28,
  "x-amz-checksum-sha256": 44,
};

/** Largest decoded body accepted: S3's own limit for one PUT or part (5 GiB). */
const MAX_DECODED_BYTES = 5 * 1024 ** 3;

/** How a request's body travels: as sent, or re-framed from signed chunks. */
export type ChunkedPayload =
  | { readonly kind: "plain" }
  | { readonly kind: "unsigned-trailer" }
  | {
      readonly kind: "signed-chunks";
      /** The data's length (`x-amz-decoded-content-length`). */
      readonly decodedLength: number;
      /** The checksum trailer's name, when the client sends one. */
      readonly trailer: string | undefined;
    };

/** A body sent as it came. */
export const PLAIN_PAYLOAD: ChunkedPayload = { kind: "plain" };

/**
 * Which framing a request uses. A framing cupbearer cannot vouch for (aws-chunked without a
 * streaming payload value, a streaming value without aws-chunked, an unknown streaming value,
 * a missing or odd decoded length or trailer) is refused before anything is sent.
 * @throws Refusal `client_signature`
 */
export function chunkedPayload(
  contentSha256: string | undefined,
  contentEncoding: string | undefined,
  decodedLength: string | undefined,
  trailer: string | undefined,
): ChunkedPayload {
  // The usual request names neither.
  if (contentSha256 === undefined && contentEncoding === undefined) return PLAIN_PAYLOAD;
  const streaming = /^STREAMING-/i.test(contentSha256 ?? "");
  const chunked = (contentEncoding ?? "").split(",").some((e) => e.trim().toLowerCase() === "aws-chunked");
  if (!streaming && !chunked) return PLAIN_PAYLOAD;
  if (!streaming || !chunked) {
    throw new Refusal("client_signature", "aws-chunked needs both its encoding and its payload value");
  }
  if (!/^(0|[1-9][0-9]{0,15})$/.test(decodedLength ?? "") || Number(decodedLength) > MAX_DECODED_BYTES) {
    throw new Refusal("client_signature", "aws-chunked without a valid x-amz-decoded-content-length");
  }
  const name = trailer?.trim().toLowerCase();
  if (name !== undefined && CHECKSUM_TRAILERS[name] === undefined) {
    throw new Refusal("client_signature", "unsupported x-amz-trailer");
  }
  switch (contentSha256) {
    case STREAMING_UNSIGNED_TRAILER:
      return { kind: "unsigned-trailer" };
    case SIGNED_CHUNKS:
      if (name !== undefined)
        throw new Refusal("client_signature", "x-amz-trailer without a trailer framing");
      return { kind: "signed-chunks", decodedLength: Number(decodedLength), trailer: undefined };
    case SIGNED_CHUNKS_TRAILER:
      if (name === undefined) throw new Refusal("client_signature", "trailer framing without x-amz-trailer");
      return { kind: "signed-chunks", decodedLength: Number(decodedLength), trailer: name };
    default:
      throw new Refusal("client_signature", "unsupported streaming payload");
  }
}

/** Size of the chunks cupbearer writes when it re-frames a body. */
export const REFRAMED_CHUNK_BYTES = 65_536;

/**
 * The length, on the wire, of `decodedLength` bytes re-framed in the unsigned-trailer form with
 * chunks of `chunkBytes`, ending with `trailer` (its value has the algorithm's fixed length).
 * Known before the first byte, so the upstream gets a Content-Length (S3 requires one).
 */
export function reframedLength(
  decodedLength: number,
  trailer: string | undefined,
  chunkBytes: number,
): number {
  const frame = (n: number) => n.toString(16).length + 2 + n + 2;
  const full = Math.floor(decodedLength / chunkBytes);
  const rest = decodedLength % chunkBytes;
  let length = full * frame(chunkBytes) + (rest > 0 ? frame(rest) : 0) + 3; // "0\r\n"
  if (trailer !== undefined) length += trailer.length + 1 + (CHECKSUM_TRAILERS[trailer] ?? 0) + 2;
  return length + 2; // the closing "\r\n"
}
