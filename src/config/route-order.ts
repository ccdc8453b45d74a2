import { normalizeTarget } from "../core/path.js";
import { atLeastAsStrict } from "../core/route-strictness.js";
import type { Config, RouteConfig } from "./types.js";

/**
 * Warnings about route order for `cupbearer check`: routes are tried in order, so an earlier
 * route that takes every path of a later one, for some method and host, decides those requests
 * with its own rules. When its rules are weaker than the later route's, the later route's rules
 * never apply there: almost always a mistake. An earlier route with a longer path (`/api/health`
 * before `/api`) is how exceptions are written, and is not warned about.
 */

/** A route's paths as a pattern: its prefix or exact path, normalized, case folded unless it says not. */
function pathPattern(r: RouteConfig): { path: string; exact: boolean } {
  const raw = r.match.path ?? r.match.pathPrefix ?? "/";
  let path = normalizeTarget(raw).path;
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  return { path: r.match.caseSensitive ? path : path.toLowerCase(), exact: r.match.path !== undefined };
}

/** True when every path `later` matches, `earlier` matches too. */
function coversPaths(earlier: RouteConfig, later: RouteConfig): boolean {
  const a = pathPattern(earlier);
  const b = pathPattern(later);
  if (a.exact) return b.exact && a.path === b.path;
  return a.path === "/" || b.path === a.path || b.path.startsWith(`${a.path}/`);
}

function methodsOverlap(a: RouteConfig, b: RouteConfig): boolean {
  const x = a.match.methods;
  const y = b.match.methods;
  if (x === undefined || y === undefined) return true;
  const withHead = (m: readonly string[]) => (m.includes("GET") ? [...m, "HEAD"] : m);
  return withHead(x).some((m) => withHead(y).includes(m));
}

function hostFits(pattern: string, host: string): boolean {
  return pattern.startsWith("*.")
    ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1
    : pattern === host;
}

function hostsOverlap(a: RouteConfig, b: RouteConfig): boolean {
  const x = a.match.hosts?.map((h) => h.toLowerCase());
  const y = b.match.hosts?.map((h) => h.toLowerCase());
  if (x === undefined || y === undefined) return true;
  return x.some((p) => y.some((q) => p === q || hostFits(p, q) || hostFits(q, p)));
}

/** One line per later route whose rules an earlier, weaker route overrides for some requests. */
export function routeOrderWarnings(config: Config): string[] {
  const warnings: string[] = [];
  config.routes.forEach((later, j) => {
    const earlier = config.routes.slice(0, j);
    const i = earlier.findIndex(
      (e) =>
        coversPaths(e, later) &&
        methodsOverlap(e, later) &&
        hostsOverlap(e, later) &&
        !atLeastAsStrict(e, later),
    );
    if (i < 0) return;
    const e = config.routes[i] as RouteConfig;
    warnings.push(
      `routes[${j}] (${later.id}): routes[${i}] (${e.id}) comes first and takes its requests${
        e.match.methods || e.match.hosts ? " for some methods or hosts" : ""
      } with weaker rules; put the stricter route first`,
    );
  });
  return warnings;
}
