import type { RouteConfig } from "../config/types.js";
import { hasPathPrefix, normalizeTarget } from "./path.js";

/** A route compiled once at start-up: matchers precomputed, upstream parsed. */
export interface CompiledRoute {
  readonly id: string;
  readonly config: RouteConfig;
  readonly upstreamOrigin: string;
  readonly matches: (host: string, method: string, path: string) => boolean;
  /** The path the upstream receives for an authorized, normalized request path. */
  readonly upstreamPath: (path: string) => string;
}

function normalizePrefix(prefix: string): string {
  const p = normalizeTarget(prefix).path;
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

function hostMatcher(patterns: readonly string[] | undefined): ((host: string) => boolean) | undefined {
  if (patterns === undefined || patterns.length === 0) return undefined;
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const p of patterns) {
    const lower = p.toLowerCase();
    if (lower.startsWith("*.")) suffixes.push(lower.slice(1));
    else exact.add(lower);
  }
  return (host) => exact.has(host) || suffixes.some((s) => host.length > s.length && host.endsWith(s));
}

export function compileRoute(config: RouteConfig): CompiledRoute {
  const url = new URL(config.upstream.url);
  // Normalized like request paths, so "//" or "/base//" cannot produce an ambiguous upstream path.
  const basePath = normalizeTarget(url.pathname).path.replace(/\/$/, "");
  const methods = config.match.methods ? new Set(config.match.methods) : undefined;
  const host = hostMatcher(config.match.hosts);
  const exactPath = config.match.path === undefined ? undefined : normalizeTarget(config.match.path).path;
  const prefix = normalizePrefix(config.match.pathPrefix ?? "/");
  const strip = config.stripPrefix && prefix !== "/";

  return {
    id: config.id,
    config,
    upstreamOrigin: url.origin,
    matches: (reqHost, method, path) =>
      (methods === undefined || methods.has(method)) &&
      (host === undefined || host(reqHost)) &&
      (exactPath === undefined ? hasPathPrefix(path, prefix) : path === exactPath),
    upstreamPath: (path) => {
      // A prefix matches whole segments, so what is left is empty or starts with "/".
      // "/api" stripped of "/api" is "" (the base itself), "/api/" is "/": as nginx keeps them apart.
      const rest = strip ? path.slice(prefix.length) : path;
      return basePath + rest || "/";
    },
  };
}

/** Host header → the bare lower-case host name used for matching (port and IPv6 brackets kept apart). */
export function hostName(hostHeader: string | undefined): string {
  if (hostHeader === undefined) return "";
  const h = hostHeader.toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const colon = h.indexOf(":");
  const name = colon < 0 ? h : h.slice(0, colon);
  // "example.com." is the same host as "example.com" (a fully qualified name).
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** The route a request matched, with its normalized path and its query as sent. */
export interface RouteMatch<R> {
  readonly route: R;
  readonly path: string;
  readonly query: string;
}

/**
 * Normalizes the request target (a `bad_path` Refusal when it is ambiguous) and finds the first
 * route that matches it; undefined when none does.
 */
export function matchRoute<R extends Pick<CompiledRoute, "matches">>(
  routes: readonly R[],
  hostHeader: string | undefined,
  method: string,
  target: string,
): RouteMatch<R> | undefined {
  const { path, query } = normalizeTarget(target);
  const host = hostName(hostHeader);
  for (const route of routes) {
    if (route.matches(host, method, path)) return { route, path, query };
  }
  return undefined;
}
