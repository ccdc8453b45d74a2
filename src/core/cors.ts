/**
 * CORS decisions for one route (the Fetch standard's CORS protocol,
 * https://fetch.spec.whatwg.org/#http-cors-protocol). Pure: headers in, headers out. A preflight
 * is answered here without a token, since browsers never send credentials on one; the call that
 * follows is authorized like any other.
 */
import type { CorsConfig } from "../config/types.js";

/** A route's CORS settings, compiled once. */
export interface CorsRules {
  /** Listed origins; undefined when every origin is allowed (`*`). */
  readonly origins: ReadonlySet<string> | undefined;
  readonly methods: ReadonlySet<string>;
  /** Lower-case names. */
  readonly headers: ReadonlySet<string>;
  /** The values of the answer headers, joined once. */
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly credentials: boolean;
  readonly maxAge: string;
}

export function compileCors(config: CorsConfig): CorsRules {
  return {
    origins: config.allowOrigins.includes("*") ? undefined : new Set(config.allowOrigins),
    methods: new Set(config.allowMethods),
    headers: new Set(config.allowHeaders.map((h) => h.toLowerCase())),
    allowMethods: config.allowMethods.join(", "),
    allowHeaders: config.allowHeaders.join(", "),
    exposeHeaders: config.exposeHeaders.join(", "),
    credentials: config.allowCredentials,
    maxAge: String(config.maxAgeSeconds),
  };
}

type HeaderValue = string | string[] | undefined;

const one = (v: HeaderValue): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * The origin and method a preflight asks about, when the request is one: `OPTIONS` with an
 * `Origin` and an `Access-Control-Request-Method`. Undefined for every other request.
 */
export function preflightMethod(
  method: string,
  origin: HeaderValue,
  requestMethod: HeaderValue,
): { readonly origin: string; readonly method: string } | undefined {
  // Every request passes here: the method alone turns almost all of them away.
  if (method !== "OPTIONS") return undefined;
  const o = one(origin);
  if (o === undefined) return undefined;
  const asked = one(requestMethod)?.trim();
  return asked === undefined || asked === "" ? undefined : { origin: o, method: asked };
}

/** Why a preflight is refused (each is a reason of the refusals table). */
export type PreflightRefusal = "cors_origin" | "cors_method" | "cors_headers";

export type PreflightDecision =
  | { readonly allow: true; readonly headers: Record<string, string> }
  | { readonly allow: false; readonly reason: PreflightRefusal };

/** Caches keep answers for different origins and asks apart (Fetch standard, CORS and caching). */
const PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

function originAllowed(rules: CorsRules, origin: string): boolean {
  // "null" (sandboxed pages, file:) is never an origin anyone can list: it is shared by all of them.
  return origin !== "null" && (rules.origins === undefined || rules.origins.has(origin));
}

/** The answer to a preflight: the allow headers, or why not. */
export function preflight(
  rules: CorsRules,
  origin: string,
  method: string,
  requestHeaders: HeaderValue,
): PreflightDecision {
  if (!originAllowed(rules, origin)) return { allow: false, reason: "cors_origin" };
  if (!rules.methods.has(method)) return { allow: false, reason: "cors_method" };
  const asked = (one(requestHeaders) ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== "");
  if (asked.some((h) => !rules.headers.has(h))) return { allow: false, reason: "cors_headers" };
  const headers: Record<string, string> = {
    "access-control-allow-origin": allowOriginValue(rules, origin),
    "access-control-allow-methods": rules.allowMethods,
    "access-control-max-age": rules.maxAge,
    vary: PREFLIGHT_VARY,
  };
  if (rules.allowHeaders !== "") headers["access-control-allow-headers"] = rules.allowHeaders;
  if (rules.credentials) headers["access-control-allow-credentials"] = "true";
  return { allow: true, headers };
}

function allowOriginValue(rules: CorsRules, origin: string): string {
  return rules.origins === undefined ? "*" : origin;
}

/**
 * Sets the CORS headers of an answer on this route (the upstream's or cupbearer's own): the
 * upstream's own `Access-Control-*` headers are replaced, the allow headers are added for a listed
 * origin only, and `Vary` always names `Origin`, so a cache never serves one origin's answer to
 * another.
 */
export function addCorsHeaders(
  rules: CorsRules,
  origin: HeaderValue,
  headers: Record<string, string | string[]>,
): void {
  for (const name of Object.keys(headers)) {
    if (name.startsWith("access-control-")) delete headers[name];
  }
  headers.vary = withOrigin(headers.vary);
  const o = one(origin);
  if (o === undefined || !originAllowed(rules, o)) return;
  headers["access-control-allow-origin"] = allowOriginValue(rules, o);
  if (rules.credentials) headers["access-control-allow-credentials"] = "true";
  if (rules.exposeHeaders !== "") headers["access-control-expose-headers"] = rules.exposeHeaders;
}

function withOrigin(vary: string | string[] | undefined): string {
  const now = Array.isArray(vary) ? vary.join(", ") : (vary ?? "");
  const names = now
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
  if (names.some((v) => v === "*" || v.toLowerCase() === "origin")) return names.join(", ");
  return [...names, "Origin"].join(", ");
}
