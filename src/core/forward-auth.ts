/**
 * Reading the request an ingress asks about (pure). An ingress that delegates authentication
 * sends a subrequest with the original request's headers (its token among them) and says where
 * the original was going in headers of its own:
 * - ingress-nginx `auth-url` (and nginx `auth_request` set up the same way): `X-Original-URL`
 *   (the whole URL, `$scheme://$http_host$request_uri`) and `X-Original-Method`;
 * - Traefik ForwardAuth (and Caddy's `forward_auth`, which sends the same): `X-Forwarded-Method`,
 *   `X-Forwarded-Host` and `X-Forwarded-Uri`;
 * - Envoy's ext_authz filter with an HTTP service: no headers of its own. The check request is the
 *   original one re-addressed: its method, its Host (the original `:authority`), and its path and
 *   query behind the filter's `path_prefix`; the body is not sent (`Content-Length: 0`).
 * Only the forward-auth endpoint reads these, only from the sources the operator trusts, and only
 * the shape the operator names: each ingress overwrites its own headers but passes the client's
 * others through, so reading both shapes would let a client describe a request it did not make.
 */
import type { IncomingHttpHeaders } from "node:http";
import { isIP } from "node:net";
import { Refusal } from "../errors.js";
import { requestHost } from "./host.js";

/** The original request, as the ingress described it. */
export interface OriginalRequest {
  readonly method: string;
  /** The original Host (with its port when it had one). */
  readonly host: string;
  /** Path and query, as sent. */
  readonly target: string;
}

const METHOD = /^[A-Z]{1,20}$/;
// A reg-name or IPv4 with an optional port, or a bracketed IPv6 literal: nothing a list could hide in.
const HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
// scheme://authority, then the rest (path and query); whitespace anywhere means two values joined.
const URL_PARTS = /^https?:\/\/([^/?#\s]+)([^#\s]*)$/i;

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === "string" ? v : undefined;
}

function bad(detail: string): never {
  throw new Refusal("bad_request", `forward-auth: ${detail}`);
}

function method(value: string | undefined, header: string): string {
  if (value === undefined) bad(`${header} is missing`);
  if (!METHOD.test(value)) bad(`${header} is not a method`);
  return value;
}

function host(value: string, header: string): string {
  if (!HOST.test(value)) bad(`${header} is not one host`);
  return value;
}

/** Which ingress's headers describe the original request. */
export type IngressHeaders = "nginx" | "traefik";

/** Every shape an ingress may describe the original request in. */
export type IngressShape = IngressHeaders | "envoy";

/** The check request as it arrived: what `describedRequest` reads. */
export interface CheckRequest {
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
}

/**
 * The original request a check request describes, in the shape of `ingress` only: `path` is the
 * endpoint's path (Envoy's `path_prefix`). A `bad_request` (or `bad_host`) Refusal when the
 * description is missing, repeated or malformed.
 */
export function describedRequest(check: CheckRequest, ingress: IngressShape, path: string): OriginalRequest {
  if (ingress === "envoy") return envoyOriginal(check, path);
  return originalRequest(check.headers, ingress);
}

/**
 * Envoy's check request: `path_prefix` + the original path (with its query), the original method
 * and `:authority` (Host). The original path always begins with `/`; anything else after the
 * prefix (nothing, a query) is not what Envoy sends, and may be a `path_override` that lost it.
 */
function envoyOriginal(check: CheckRequest, prefix: string): OriginalRequest {
  const rest = check.url.startsWith(prefix) ? check.url.slice(prefix.length) : "";
  if (!rest.startsWith("/")) bad("the path is not the path prefix followed by the original path");
  return { method: check.method, host: requestHost(check.rawHeaders), target: rest };
}

/**
 * Whether a request target is one for the endpoint at `path`: exactly that path (any query) for
 * the header shapes; for Envoy also every path under it, which carries the original path.
 */
export function isCheckTarget(url: string, ingress: IngressShape, path: string): boolean {
  if (!url.startsWith(path)) return false;
  const next = url.charAt(path.length);
  return next === "" || next === "?" || (ingress === "envoy" && next === "/");
}

/**
 * The original request from an ingress's headers, read in the shape of `ingress` only; a
 * `bad_request` Refusal when they are missing, repeated or malformed.
 */
export function originalRequest(headers: IncomingHttpHeaders, ingress: IngressHeaders): OriginalRequest {
  if (ingress === "nginx") {
    const url = headers["x-original-url"];
    if (url === undefined) bad("X-Original-URL is missing");
    const parts = typeof url === "string" ? URL_PARTS.exec(url) : null;
    if (parts === null) bad("X-Original-URL is not one absolute http(s) URL");
    const rest = parts[2] as string;
    return {
      method: method(single(headers, "x-original-method"), "X-Original-Method"),
      host: host(parts[1] as string, "X-Original-URL's host"),
      target: rest === "" || rest.startsWith("?") ? `/${rest}` : rest,
    };
  }
  const uri = headers["x-forwarded-uri"];
  if (uri === undefined) bad("X-Forwarded-Uri is missing");
  if (typeof uri !== "string" || !uri.startsWith("/") || /\s/.test(uri))
    bad("X-Forwarded-Uri is not one path");
  const h = single(headers, "x-forwarded-host");
  if (h === undefined) bad("X-Forwarded-Host is missing");
  return {
    method: method(single(headers, "x-forwarded-method"), "X-Forwarded-Method"),
    host: host(h, "X-Forwarded-Host"),
    target: uri,
  };
}

/** A CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address, parsed; undefined when it is neither. */
export function parseCidr(value: string): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const slash = value.indexOf("/");
  const address = slash < 0 ? value : value.slice(0, slash);
  const family = isIP(address);
  if (family !== 4 && family !== 6) return undefined;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const bits = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
  return { address, prefix: Number(bits), family };
}
