/**
 * Which headers a request to an AWS service carries, decided from the client's raw request.
 * Pure: the signature itself is computed by aws/signer from what this returns.
 */
import { Refusal } from "../errors.js";
import { type RequestHeaderFilter, upstreamRequestHeaders } from "./headers.js";

/**
 * Client headers an AWS route never forwards: cupbearer sets or replaces them (the signature, its
 * date and session token, the payload hash, Host, the body's length), and a cookie would only
 * tell AWS what it ignores. Forwarding headers are dropped on every route already.
 */
export const AWS_REPLACED_HEADERS = [
  "authorization",
  "cookie",
  "content-length",
  "x-amz-date",
  "x-amz-security-token",
  "x-amz-content-sha256",
] as const;

/** Besides x-amz-*, which S3 requires signed, the headers whose change in transit must break the signature. */
const SIGNED = new Set(["content-type", "content-md5"]);

/** Header name → value(s) the signature covers. */
export type SignedHeaderValues = Record<string, string | string[]>;

export interface AwsRequestHeaders {
  /** Flat name/value list sent upstream, without the signature's own headers. */
  readonly headers: string[];
  /** Those of `headers` the signature must cover. */
  readonly signed: SignedHeaderValues;
}

const QUERY_SIGNATURE = /(?:^|[?&])x-amz-(?:signature|credential|algorithm|security-token)=/i;

/**
 * Refuses what the client signed itself: a query-string signature (it would fight ours) and AWS's
 * chunk-signed upload framing, which would end up inside the stored object.
 * @throws Refusal `client_signature`
 */
export function refuseClientSigning(
  contentSha256: string | undefined,
  contentEncoding: string | undefined,
  query: string,
): void {
  if (/^STREAMING-/i.test(contentSha256 ?? "")) {
    throw new Refusal("client_signature", "chunk-signed (aws-chunked) upload");
  }
  if (/aws-chunked/i.test(contentEncoding ?? "")) {
    throw new Refusal("client_signature", "aws-chunked content encoding");
  }
  refuseQuerySignature(query);
}

/**
 * Refuses a query-string signature (a presigned URL's): it would fight cupbearer's.
 * @throws Refusal `client_signature`
 */
export function refuseQuerySignature(query: string): void {
  if (QUERY_SIGNATURE.test(query)) throw new Refusal("client_signature", "query-string signature");
}

/**
 * The headers of a request to an AWS service: the client's, less what `filter` drops (which must
 * include {@link AWS_REPLACED_HEADERS}) and what its Connection header lists, plus the body's
 * length (when known) and the upstream's Host, which the signature covers.
 */
export function awsRequestHeaders(
  rawHeaders: readonly string[],
  filter: RequestHeaderFilter,
  connection: string | undefined,
  extra: { requestId: string; contentLength: string | undefined; host: string },
): AwsRequestHeaders {
  const headers = upstreamRequestHeaders(rawHeaders, filter, connection, undefined, [
    "x-request-id",
    extra.requestId,
  ]);
  const signed: SignedHeaderValues = {};
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (!SIGNED.has(name) && !name.startsWith("x-amz-")) continue;
    const value = headers[i + 1] as string;
    const seen = signed[name];
    signed[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  if (extra.contentLength !== undefined) headers.push("content-length", extra.contentLength);
  headers.push("host", extra.host);
  return { headers, signed };
}
