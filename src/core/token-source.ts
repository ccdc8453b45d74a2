import type { IncomingHttpHeaders } from "node:http";
import { Refusal } from "../errors.js";

/** Where a route's token lives; exactly one is set (the schema guarantees it). */
export interface TokenSourceConfig {
  header?: string | undefined;
  cookie?: string | undefined;
  query?: string | undefined;
}

/** A compiled token source: finds the token, and removes it when the route must not forward it. */
export interface TokenSource {
  /** Lower-case header that carries the token, or undefined when it travels elsewhere. */
  readonly headerName: string | undefined;
  /**
   * The raw token, or undefined when the request carries none. Throws a 401 when it is unusable,
   * a 400 when it is ambiguous. `rawHeaders` is Node's flat list: it still shows duplicates that
   * `headers` has already folded or dropped (Node keeps only the first Authorization).
   */
  extract(headers: IncomingHttpHeaders, rawHeaders: readonly string[], query: string): string | undefined;
  /** The query string without the token parameter (for query sources; others return it unchanged). */
  stripFromQuery(query: string): string;
  /** The Cookie header value without the token cookie (for cookie sources); undefined when none is left. */
  stripFromCookie(cookie: string): string | undefined;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const BEARER_SCHEME = /^Bearer(?:[\s]|$)/i;

function checkShape(token: string, maxBytes: number): string {
  // Length first, so an oversized value is never scanned by a regular expression.
  if (token.length > maxBytes) throw new Refusal("too_large");
  if (!JWT_SHAPE.test(token)) throw new Refusal("malformed");
  return token;
}

/**
 * The credential of `Bearer <credential>` (scheme in any case, spaces around the credential), or
 * null when `raw` is not exactly that. What /^Bearer +([^ ]+) *$/i matches, by hand: the regular
 * expression scanned the whole token on every request, at about ten times the cost.
 */
export function bearerCredential(raw: string): string | null {
  if (raw.length < 8 || raw.charCodeAt(6) !== 32 || raw.slice(0, 6).toLowerCase() !== "bearer") return null;
  let start = 7;
  while (raw.charCodeAt(start) === 32) start++;
  let end = raw.indexOf(" ", start);
  if (end < 0) end = raw.length;
  else {
    for (let i = end; i < raw.length; i++) if (raw.charCodeAt(i) !== 32) return null;
  }
  return start < end ? raw.slice(start, end) : null;
}

function count(rawHeaders: readonly string[], lowerName: string): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const h = rawHeaders[i] as string;
    if (h.length === lowerName.length && h.toLowerCase() === lowerName) n++;
  }
  return n;
}

/** A query parameter name as URLSearchParams reads it ("+" is a space), or the raw text if malformed. */
function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, " "));
  } catch {
    return raw;
  }
}

/** Cookie pairs as [name, value, the pair's own text]; the text is what is forwarded. */
function cookiePairs(cookie: string): Array<[string, string, string]> {
  return cookie.split(";").map((part) => {
    const text = part.trim();
    const eq = text.indexOf("=");
    return eq < 0 ? [text, "", text] : [text.slice(0, eq).trim(), text.slice(eq + 1).trim(), text];
  });
}

/**
 * Compiles a route's token source. Tokens come from `Authorization: Bearer` by default; a named
 * header (raw value, `Bearer ` optional), a cookie, or a query parameter only where configured.
 */
export function compileTokenSource(config: TokenSourceConfig, maxTokenBytes: number): TokenSource {
  const noQuery = (q: string) => q;
  const noCookie = (c: string) => c;

  if (config.cookie !== undefined) {
    const name = config.cookie;
    return {
      headerName: undefined,
      extract(headers) {
        const cookie = headers.cookie;
        if (cookie === undefined) return undefined;
        const found = cookiePairs(cookie).filter(([k]) => k === name);
        if (found.length === 0) return undefined;
        // Two cookies of one name could be read differently by the upstream: refuse the ambiguity.
        if (found.length > 1) throw new Refusal("duplicate_token", "duplicate token cookie");
        const value = (found[0] as [string, string, string])[1];
        return value === "" ? undefined : checkShape(value, maxTokenBytes);
      },
      stripFromQuery: noQuery,
      stripFromCookie(cookie) {
        const kept = cookiePairs(cookie).filter(([k]) => k !== name && k !== "");
        return kept.length === 0 ? undefined : kept.map(([, , text]) => text).join("; ");
      },
    };
  }

  if (config.query !== undefined) {
    const name = config.query;
    return {
      headerName: undefined,
      extract(_headers, _rawHeaders, query) {
        if (query.length < 2) return undefined;
        const values = new URLSearchParams(query.slice(1)).getAll(name);
        if (values.length === 0) return undefined;
        if (values.length > 1) throw new Refusal("duplicate_token", "duplicate token parameter");
        return values[0] === "" ? undefined : checkShape(values[0] as string, maxTokenBytes);
      },
      stripFromQuery(query) {
        if (query.length < 2) return query;
        // Split by hand, so every other parameter reaches the upstream byte for byte.
        const kept = query
          .slice(1)
          .split("&")
          .filter((pair) => pair !== "" && decodeName(pair.split("=", 1)[0] as string) !== name);
        return kept.length === 0 ? "" : `?${kept.join("&")}`;
      },
      stripFromCookie: noCookie,
    };
  }

  const headerName = (config.header ?? "authorization").toLowerCase();
  const isAuthorization = headerName === "authorization";
  return {
    headerName,
    extract(headers, rawHeaders) {
      const raw = headers[headerName];
      if (raw === undefined) return undefined;
      // Counted before anything else: an empty first copy must not hide a second one.
      if (Array.isArray(raw) || count(rawHeaders, headerName) > 1) {
        // Which copy the upstream would believe is anyone's guess: refuse instead of choosing.
        throw new Refusal("duplicate_token", "duplicate token header");
      }
      if (raw === "") return undefined;
      if (raw.length > maxTokenBytes + 16) throw new Refusal("too_large");
      const bearer = bearerCredential(raw);
      if (bearer === null && BEARER_SCHEME.test(raw)) {
        // A Bearer credential we cannot read is a bad token, never "no token": on an optional
        // route it would otherwise pass as anonymous, carrying an unverified credential upstream.
        throw new Refusal("malformed");
      }
      // Another scheme (Basic, say) in Authorization is no bearer token at all.
      if (isAuthorization && bearer === null) return undefined;
      return checkShape(bearer ?? raw.trim(), maxTokenBytes);
    },
    stripFromQuery: noQuery,
    stripFromCookie: noCookie,
  };
}
