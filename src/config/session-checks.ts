import { eachPart, ok, type Part } from "./parts.js";
import type { Report } from "./problems.js";
import type { Config } from "./types.js";

/**
 * The cross-checks of browser sign-in: `mode: authenticate` needs `sessions`; the session's issuer
 * and client are ones the verifier accepts (its ID tokens are verified like bearer tokens); the
 * two paths cupbearer answers itself are distinct and shadow no route that matches only them.
 */
export function checkSessions(config: Part<Config>, report: Report): void {
  const { sessions, routes, issuers, forwardAuth } = config;
  const hasSessions = sessions !== undefined && ok(sessions);
  eachPart(routes, (route, i) => {
    if (!ok(route.auth) || !ok(route.auth.mode) || route.auth.mode !== "authenticate") return;
    const at = ["routes", i, "auth"];
    if (sessions === undefined) report([...at, "mode"], "authenticate needs sessions");
    if (ok(route.upstream) && route.upstream.aws !== undefined) {
      report([...at, "mode"], "authenticate is for plain upstreams: AWS routes take bearer tokens only");
    }
    // A session is authorized by its ID token, which has no `scope` and is not an access token.
    if (ok(route.auth.tokenUse) && route.auth.tokenUse === "access") {
      report([...at, "tokenUse"], "must be id or any: a session is authorized by its ID token");
    }
    if (ok(route.auth.scopes) && route.auth.scopes.length > 0) {
      report([...at, "scopes"], "no session could pass: ID tokens carry no scopes");
    }
  });
  if (!hasSessions) return;
  const at = ["sessions"];
  if (ok(issuers) && ok(sessions.issuer)) {
    let found = false;
    eachPart(issuers, (issuer) => {
      if (!ok(issuer.id) || issuer.id !== sessions.issuer) return;
      found = true;
      const ids = issuer.clientIds;
      if (ok(sessions.clientId) && ids !== undefined && ok(ids) && !ids.includes(sessions.clientId)) {
        report(
          [...at, "clientId"],
          `is not in issuers[${issuer.id}].clientIds: its ID tokens would be refused`,
        );
      }
    });
    if (!found) report([...at, "issuer"], `unknown issuer "${sessions.issuer}"`);
  }
  const own: Array<[string, string]> = [];
  if (ok(sessions.callbackPath)) own.push(["callbackPath", sessions.callbackPath]);
  if (ok(sessions.signOutPath)) own.push(["signOutPath", sessions.signOutPath]);
  if (ok(sessions.startPath)) own.push(["startPath", sessions.startPath]);
  own.forEach(([key, path], i) => {
    const earlier = own.slice(0, i).find(([, p]) => p === path);
    if (earlier !== undefined) report([...at, key], `must differ from ${earlier[0]}`);
  });
  for (const [key, path] of own) {
    if (forwardAuth !== undefined && ok(forwardAuth) && ok(forwardAuth.path) && forwardAuth.path === path) {
      report([...at, key], "is forwardAuth.path");
    }
    // Prefix routes (`/`) keep every other path; a route that matches only this path would be dead.
    eachPart(routes, (route, i) => {
      if (ok(route.match) && ok(route.match.path) && route.match.path === path) {
        report(
          [...at, key],
          `is routes[${i}].match.path: cupbearer answers it, the route would never be used`,
        );
      }
    });
  }
}
