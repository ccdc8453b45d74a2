/**
 * Which request and response headers cross the proxy. Pure: works on Node's flat rawHeaders list.
 */
import { ALB_HEADER_PREFIX } from "./assertion.js";
import { foldHeaderName, INGRESS_DESCRIPTION_HEADERS, REWRITE_HEADERS } from "./header-names.js";

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
 * sent), Expect (cupbearer answers 100-continue itself), forwarding and trace headers it sets
 * itself, and an ingress's description of a request (header-names.ts).
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
  ...INGRESS_DESCRIPTION_HEADERS,
]);

const NO_NAMES: readonly string[] = Object.freeze([]);
/** The values nearly every message carries, listed once instead of split per message. */
const USUAL_CONNECTION = new Map(["keep-alive", "close"].map((v) => [v, Object.freeze([v])]));

/** Names listed in a Connection header (they are hop-by-hop for this one message). */
function connectionTokens(value: string | undefined): readonly string[] {
  if (value === undefined || value === "") return NO_NAMES;
  const lower = value.toLowerCase();
  return (
    USUAL_CONNECTION.get(lower) ??
    lower
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t !== "")
  );
}

/** A compiled filter for request headers: the fixed drops plus `names`. */
export interface RequestHeaderFilter {
  /** Lower-case names dropped as spelled. */
  readonly drop: ReadonlySet<string>;
  /**
   * Names (lower case, with `-`) whose other spellings, `_` for `-`, are dropped too: every name
   * cupbearer drops or sets, and the route's token header, which may pass only as spelled.
   */
  readonly guarded: ReadonlySet<string>;
}

/** What a route adds to the fixed drops. */
export interface RequestHeaderFilterOptions {
  /** Names guarded in their `_` spellings but forwarded as spelled (the route's token header). */
  readonly guard?: Iterable<string>;
  /** Rewrite headers (REWRITE_HEADERS) this route forwards as spelled. */
  readonly allowRewrite?: Iterable<string>;
}

/**
 * Headers the upstream reads as a request's framing: guarded in their `_` spellings, so a
 * CGI-style server never sees a second, different Content-Length.
 */
const FRAMING = ["content-length", "content-type"];

/** @param names further headers to drop: the identity headers of every route, and a route's own. */
export function requestHeaderFilter(
  names: Iterable<string>,
  options: RequestHeaderFilterOptions = {},
): RequestHeaderFilter {
  const drop = new Set(REQUEST_DROP);
  for (const h of REWRITE_HEADERS) drop.add(h);
  for (const h of names) drop.add(h.toLowerCase());
  const guarded = new Set([...drop, ...FRAMING]);
  for (const h of options.guard ?? []) guarded.add(h.toLowerCase());
  for (const h of options.allowRewrite ?? []) drop.delete(h.toLowerCase());
  return { drop, guarded };
}

/**
 * True when `name` (lower case) is another spelling of a guarded name: `x_auth_request_user`,
 * `X-Forwarded_For`. Such a header is dropped, never refused: nginx drops every name with `_`
 * by default, and a client that spells a header so has nothing cupbearer should forward.
 */
export function isGuardedSpelling(name: string, filter: RequestHeaderFilter): boolean {
  if (!name.includes("_")) return false;
  const folded = foldHeaderName(name);
  return (
    filter.guarded.has(folded) || folded.startsWith("x-forwarded-") || folded.startsWith(ALB_HEADER_PREFIX)
  );
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
  /** Drop every Cookie header too (its kept pairs are in `append`). */
  dropCookie = false,
): string[] {
  const listed = connectionTokens(connection);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (
      filter.drop.has(name) ||
      // Every X-Forwarded-* (-For, -Host, -Port, -Prefix, …): only cupbearer may say where a request came from.
      name.startsWith("x-forwarded-") ||
      // Every x-amzn-oidc-* (ALB's identity headers): only cupbearer's albHeaders may set them.
      name.startsWith(ALB_HEADER_PREFIX) ||
      name === also ||
      (dropCookie && name === "cookie") ||
      (listed.length > 0 && listed.includes(name)) ||
      isGuardedSpelling(name, filter)
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
