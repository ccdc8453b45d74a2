/**
 * Which request and response headers cross the proxy. Pure: works on Node's flat rawHeaders list.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1) and their historic relatives; never forwarded either way. */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Request headers cupbearer always replaces or removes: hop-by-hop, Host (the upstream's own is
 * sent), Expect (cupbearer answers 100-continue itself), and forwarding and trace headers it sets itself.
 */
const REQUEST_DROP = new Set([
  ...HOP_BY_HOP,
  "host",
  "expect",
  "forwarded",
  "x-real-ip",
  "x-request-id",
  // Sent again as the request's trace (core/trace.ts): the client's if valid, else a new one.
  "traceparent",
]);

/** Names listed in a Connection header (they are hop-by-hop for this one message). */
function connectionTokens(value: string | undefined): string[] {
  if (value === undefined || value === "") return [];
  return value
    .toLowerCase()
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
}

/** A compiled filter for request headers: the fixed drops plus `names`. */
export interface RequestHeaderFilter {
  readonly drop: ReadonlySet<string>;
}

/** @param names further headers to drop: the identity headers of every route, and a route's own. */
export function requestHeaderFilter(names: Iterable<string>): RequestHeaderFilter {
  const drop = new Set(REQUEST_DROP);
  for (const h of names) drop.add(h.toLowerCase());
  return { drop };
}

/**
 * rawHeaders → the flat list sent upstream: dropped names and Connection-listed names removed,
 * `also` (lower-case names) removed too, then `append` added.
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  filter: RequestHeaderFilter,
  connection: string | undefined,
  also: string | undefined,
  append: readonly string[],
): string[] {
  const listed = connectionTokens(connection);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (
      filter.drop.has(name) ||
      // Every X-Forwarded-* (-For, -Host, -Port, -Prefix, …): only cupbearer may say where a request came from.
      name.startsWith("x-forwarded-") ||
      name === also ||
      (listed.length > 0 && listed.includes(name))
    ) {
      continue;
    }
    out.push(name, rawHeaders[i + 1] as string);
  }
  for (const h of append) out.push(h);
  return out;
}

/** Upstream response headers → those the client receives (hop-by-hop and Connection-listed removed). */
export function clientResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const conn = headers.connection;
  const listed = connectionTokens(Array.isArray(conn) ? conn.join(",") : conn);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || HOP_BY_HOP.has(name) || listed.includes(name)) continue;
    out[name] = v;
  }
  return out;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** A client's X-Request-Id is kept only when it is a plain token of sensible length. */
export function validRequestId(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" && REQUEST_ID.test(value) ? value : undefined;
}
