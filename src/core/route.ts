import type { RouteConfig } from "../config/types.js";
import { Refusal } from "../errors.js";
import { hasPathPrefix, normalizeTarget } from "./path.js";
import { pathReadings } from "./path-views.js";

/** A route compiled once at start-up: matchers precomputed, upstream parsed. */
export interface CompiledRoute {
  readonly id: string;
  readonly config: RouteConfig;
  readonly upstreamOrigin: string;
  /**
   * Does the request fit? `folded` is the path in lower case when letter case is to be ignored
   * (every route but those with `match.caseSensitive`); left out, the path is compared as it is.
   * `strictSlash` reads an exact path as strict routers do: without its trailing-slash twin.
   */
  readonly matches: (
    host: string,
    method: string,
    path: string,
    folded?: string,
    strictSlash?: boolean,
  ) => boolean;
  /** True when a path pattern of this route has capitals that case-folding would change. */
  readonly patternHasCapitals: boolean;
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
  // An exact path covers itself with and without a trailing slash, as non-strict routers read it.
  const exactPath =
    config.match.path === undefined ? undefined : normalizePrefix(config.match.path).replace(/^$/, "/");
  const prefix = normalizePrefix(config.match.pathPrefix ?? "/");
  const strip = config.stripPrefix && prefix !== "/";
  const caseSensitive = config.match.caseSensitive;
  const pattern = exactPath ?? prefix;
  const foldedPattern = caseSensitive ? pattern : pattern.toLowerCase();
  const pathFits = (p: string, want: string, strictSlash: boolean | undefined) =>
    exactPath === undefined
      ? hasPathPrefix(p, want)
      : p === want || (!strictSlash && p === `${want}/` && want !== "/");

  return {
    id: config.id,
    config,
    upstreamOrigin: url.origin,
    patternHasCapitals: !caseSensitive && foldedPattern !== pattern,
    matches: (reqHost, method, path, folded, strictSlash) =>
      methodFits(methods, method) &&
      (host === undefined || host(reqHost)) &&
      (folded === undefined || caseSensitive
        ? pathFits(path, pattern, strictSlash)
        : pathFits(folded, foldedPattern, strictSlash)),
    upstreamPath: (path) => {
      // A prefix matches whole segments, so what is left is empty or starts with "/".
      // "/api" stripped of "/api" is "" (the base itself), "/api/" is "/": as nginx keeps them apart.
      const rest = strip ? path.slice(prefix.length) : path;
      return basePath + rest || "/";
    },
  };
}

/** Methods a route takes only when it lists them: TRACE echoes, CONNECT tunnels. */
const LISTED_ONLY = new Set(["TRACE", "CONNECT"]);

/** HEAD runs the GET handler in every common framework, so a route with GET covers HEAD. */
function methodFits(methods: ReadonlySet<string> | undefined, method: string): boolean {
  if (methods === undefined) return !LISTED_ONLY.has(method);
  return methods.has(method) || (method === "HEAD" && methods.has("GET"));
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

function first<R extends Pick<CompiledRoute, "matches">>(
  routes: readonly R[],
  host: string,
  method: string,
  path: string,
  foldCase: boolean,
  strictSlash: boolean,
): R | undefined {
  const folded = foldCase ? path.toLowerCase() : undefined;
  for (const route of routes) if (route.matches(host, method, path, folded, strictSlash)) return route;
  return undefined;
}

const CAPITALS = /[A-Z]/;

/**
 * Normalizes the request target (a `bad_path` Refusal when it is ambiguous) and finds the first
 * route that matches it; undefined when none does. Letter case is ignored, except on routes with
 * `match.caseSensitive`, as Express, ASP.NET and IIS route; an exact path covers itself with a
 * trailing slash, as non-strict routers read it.
 *
 * Every reading an upstream stack may make of the path (path-views.ts; with and without letter
 * case; with a trailing slash significant or not) should reach the same route. When readings
 * reach different routes, one of them is applied only if `mayStandIn` says it may stand in for
 * every other (its rules are at least as strict, same upstream, path unchanged); otherwise, or
 * when some reading reaches no route, the request is a `bad_path` Refusal: some stack could hand
 * it to a handler whose rules were not applied. TRACE and CONNECT that no route lists are a
 * `method` Refusal (405).
 *
 * @param capitals true when some route's pattern has capitals (`patternHasCapitals`): then even
 *   a lower-case path is matched both ways.
 * @param mayStandIn whether route `a` may be applied to a request some reader routes to `b`;
 *   by default no route stands in for another.
 */
export function matchRoute<R extends Pick<CompiledRoute, "matches">>(
  routes: readonly R[],
  hostHeader: string | undefined,
  method: string,
  target: string,
  capitals = true,
  mayStandIn: (a: R, b: R) => boolean = () => false,
): RouteMatch<R> | undefined {
  const { path, query } = normalizeTarget(target);
  const host = hostName(hostHeader);
  const at = (p: string, fold: boolean, strictSlash = false) =>
    first(routes, host, method, p, fold, strictSlash);
  const route = at(path, true);
  const other = pathReadings(path);
  const bothCases =
    capitals || CAPITALS.test(path) || (other !== undefined && CAPITALS.test(other.servlet + other.lenient));
  let applied = route;
  // A path of one reading (one case, no trailing slash, nothing to decode or trim), the usual
  // one, has nothing another server could read differently.
  if (other !== undefined || bothCases || path.endsWith("/")) {
    const folds = bothCases ? [true, false] : [true];
    // Readings one route may stand in for: letter case, a trailing slash, servlet ;params.
    const reached = new Set<R | undefined>([route]);
    for (const p of other === undefined || other.servlet === path ? [path] : [path, other.servlet]) {
      for (const fold of folds) {
        reached.add(at(p, fold));
        if (p.endsWith("/")) reached.add(at(p, fold, true));
      }
    }
    if (reached.size > 1) {
      applied = reached.has(undefined)
        ? undefined
        : [...reached].find(
            (a) => a !== undefined && [...reached].every((b) => b === a || mayStandIn(a, b as R)),
          );
      if (applied === undefined) {
        throw new Refusal("bad_path", "the path reaches different routes as different servers read it");
      }
    }
    // Segments only some servers decode or trim: refused wherever trimming changes the route.
    if (other !== undefined && folds.some((fold) => at(other.lenient, fold) !== at(other.servlet, fold))) {
      throw new Refusal("bad_path", "a decoded or trimmed segment reaches another route");
    }
  }
  if (applied === undefined && LISTED_ONLY.has(method))
    throw new Refusal("method", `${method} is not listed`);
  return applied === undefined ? undefined : { route: applied, path, query };
}
