import type { AuthMode, RouteConfig } from "../config/types.js";

/**
 * Whether one route's rules are at least as strict as another's: every request the first lets
 * through, the second would let through too. Used where two routes could apply to one request
 * (a path that servers read differently, an earlier route that shadows a later one): applying
 * the stricter one keeps the property that the handler's own route rules were met.
 */

const RANK: Record<AuthMode, number> = { public: 0, optional: 1, required: 2, authenticate: 2 };

function subset<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.every((x) => b.includes(x));
}

/** True when every request `a` admits, `b` admits too (judged on their auth rules alone). */
export function atLeastAsStrict(a: RouteConfig, b: RouteConfig): boolean {
  const x = a.auth;
  const y = b.auth;
  if (RANK[x.mode] < RANK[y.mode]) return false;
  if (y.mode === "public") return true;
  // `a` is optional or required from here, and so is `b`: compare the rules a token must meet.
  if (y.issuers !== undefined && (x.issuers === undefined || !subset(x.issuers, y.issuers))) return false;
  if (y.tokenUse !== "any" && x.tokenUse !== y.tokenUse) return false;
  if (!subset(y.scopes, x.scopes)) return false;
  if (y.groups.length > 0 && (x.groups.length === 0 || !subset(x.groups, y.groups))) return false;
  return Object.entries(y.claims).every(([name, value]) => x.claims[name] === value);
}

/**
 * Whether a request routed to `a` may stand in for one routed to `b`: `a` is at least as strict,
 * sends to the same upstream URL, forwards the path unchanged (no `stripPrefix` on either, no
 * AWS signing) and forwards no rewrite header `b` would drop.
 */
export function mayStandIn(a: RouteConfig, b: RouteConfig): boolean {
  return (
    atLeastAsStrict(a, b) &&
    a.upstream.url === b.upstream.url &&
    !a.stripPrefix &&
    !b.stripPrefix &&
    a.upstream.aws === undefined &&
    b.upstream.aws === undefined &&
    subset(
      a.forwardRewriteHeaders.map((h) => h.toLowerCase()),
      b.forwardRewriteHeaders.map((h) => h.toLowerCase()),
    )
  );
}
