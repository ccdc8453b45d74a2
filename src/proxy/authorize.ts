import type { IncomingHttpHeaders } from "node:http";
import type { TokenVerifier } from "../auth/verifier.js";
import type { Identity } from "../core/identity.js";
import { evaluate, ruleRefusal } from "../core/policy.js";
import { isNavigation, safeReturnPath } from "../core/session-rules.js";
import { Refusal } from "../errors.js";
import type { SessionService } from "../sessions/service.js";
import type { ProxyRoute, RouteTable } from "./route-table.js";

/**
 * The one decision whether a request passes: match, token, verify, rules. The proxy's pipeline
 * and the forward-auth endpoint both call it, so an ingress gets exactly the proxy's answers.
 */

/** What the decision reads of a request: where it goes, and the headers that may carry its token. */
export interface RequestFacts {
  /** The one valid Host (or what an ingress says the original one was). */
  readonly host: string | undefined;
  readonly method: string;
  /** The request target in origin form: path and query as sent. */
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  /**
   * Whether a navigation without a session may be answered with a redirect to sign in (default
   * true); false where the asker cannot pass a redirect on (nginx `auth_request`): it gets 401.
   */
  readonly redirects?: boolean;
}

/** Filled in as the decision goes, so the log line of a refusal still names the route and caller. */
export interface AuthorizationScope {
  route: ProxyRoute | undefined;
  /** The normalized path the route matched. */
  path: string;
  /** The query as sent, with its leading "?", or "". */
  query: string;
  identity: Identity | undefined;
  /** The verified token, set only once the route's rules passed. */
  token: string | undefined;
  /** The caller's access token, when they have one: a bearer access token or the session's. */
  accessToken: string | undefined;
  /** `Set-Cookie` values the answer must carry (a refreshed or ended session), if any. */
  setCookies: string[] | undefined;
}

/** The config-derived state the decision runs on. */
export interface AuthorizingState {
  readonly routes: RouteTable;
  readonly verifier: TokenVerifier;
  /** Browser sessions, when `sessions` is configured. */
  readonly sessions?: SessionService | undefined;
}

/**
 * The route and the caller, or a Refusal (thrown, or a rejection): everything that decides whether
 * the request passes. Synchronous for a public route and for a bearer token whose key is cached
 * (TokenVerifier.verify), the path of nearly every request.
 */
export function authorizeRequest(
  state: AuthorizingState,
  request: RequestFacts,
  scope: AuthorizationScope,
): ProxyRoute | Promise<ProxyRoute> {
  const match = state.routes.match(request.host, request.method, request.target);
  if (match === undefined) throw new Refusal("no_route");
  const { route } = match;
  scope.route = route;
  scope.path = match.path;
  scope.query = match.query;
  if (route.mode === "public") return route;
  const token = route.tokenSource.extract(request.headers, request.rawHeaders, match.query);
  if (token === undefined) return authorizeWithoutToken(state, request, scope, route);
  const identity = state.verifier.verify(token);
  return identity instanceof Promise
    ? identity.then((verified) => judged(scope, route, token, verified))
    : judged(scope, route, token, identity);
}

/** The verified caller against the route's rules: the route, or a thrown Refusal. */
function judged(scope: AuthorizationScope, route: ProxyRoute, token: string, identity: Identity): ProxyRoute {
  // Known before the rules are judged, so a refusal's log line names the caller.
  scope.identity = identity;
  const decision = evaluate(route.rules, identity.issuerId, identity.claims);
  if (!decision.allow) throw ruleRefusal(route.rules, decision);
  scope.token = token;
  // An ID token is no access token: only `token_use: access` may be handed on as one.
  if (identity.claims.token_use === "access") scope.accessToken = token;
  return route;
}

/** A request without a bearer token: a session, an optional route, a sign-in redirect, or `missing`. */
async function authorizeWithoutToken(
  state: AuthorizingState,
  request: RequestFacts,
  scope: AuthorizationScope,
  route: ProxyRoute,
): Promise<ProxyRoute> {
  // No bearer token: a session may stand in for one (plain routes only; a bearer token wins).
  const { sessions } = state;
  if (sessions !== undefined && route.upstream.kind === "plain") {
    if (await authorizeSession(state, sessions, request, scope, route)) return route;
  }
  if (route.mode === "optional") return route;
  if (
    route.mode === "authenticate" &&
    sessions !== undefined &&
    request.redirects !== false &&
    isNavigation(request.method, request.headers)
  ) {
    const origin = publicOrigin(sessions.config.publicOrigin, request.host);
    if (origin === undefined) throw new Refusal("bad_host", "no host to build the callback URL on");
    const start = await sessions.startSignIn(origin, safeReturnPath(request.target) ?? "/");
    const refusal = new Refusal("sign_in");
    refusal.headers = { location: start.location };
    scope.setCookies = [...(scope.setCookies ?? []), start.setCookie];
    throw refusal;
  }
  throw new Refusal("missing");
}

/**
 * The decision, then the matched route's per-caller rate limit (`rateLimit.perCaller`), keyed by
 * the verified caller or, for guests, by `address`: what the proxy and the forward-auth endpoint
 * both run, so a caller over the limit gets the same 429 from either.
 */
export function authorizeAndAdmit(
  state: AuthorizingState,
  request: RequestFacts,
  scope: AuthorizationScope,
  address: string | undefined,
): ProxyRoute | Promise<ProxyRoute> {
  const authorized = authorizeRequest(state, request, scope);
  return authorized instanceof Promise
    ? authorized.then((route) => admitted(route, scope, address))
    : admitted(authorized, scope, address);
}

/** The route once its per-caller rate limit lets the caller in (waited for only with a shared store). */
function admitted(
  route: ProxyRoute,
  scope: AuthorizationScope,
  address: string | undefined,
): ProxyRoute | Promise<ProxyRoute> {
  const admission = route.rateLimit?.admit(scope.identity, address);
  return admission instanceof Promise ? admission.then(() => route) : route;
}

/**
 * The session in the request's cookies, authorized like a bearer ID token: verified by the same
 * verifier, judged by the same rules. True when it passes; false when there is none (or it is
 * broken or its ID token no longer verifies: the caller signs in again); a failed rule throws.
 */
async function authorizeSession(
  state: AuthorizingState,
  sessions: SessionService,
  request: RequestFacts,
  scope: AuthorizationScope,
  route: ProxyRoute,
): Promise<boolean> {
  const cookie = request.headers.cookie;
  const resumed = await sessions.resume(cookie);
  if (resumed.setCookies.length > 0) scope.setCookies = resumed.setCookies;
  if (resumed.kind === "none") return false;
  let identity: Identity;
  try {
    identity = await state.verifier.verify(resumed.idToken);
  } catch (err) {
    if (!(err instanceof Refusal) || err.answerName !== "invalid_token") throw err;
    scope.setCookies = sessions.endCookies(cookie);
    return false;
  }
  scope.identity = identity;
  const decision = evaluate(route.rules, identity.issuerId, identity.claims);
  if (!decision.allow) throw ruleRefusal(route.rules, decision);
  scope.token = resumed.idToken;
  scope.accessToken = resumed.accessToken;
  return true;
}

/** Loopback hosts, reached over plain http in development; every other host is assumed https. */
const LOOPBACK = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/i;

/** The origin the callback URL is built on: `sessions.publicOrigin`, else the request's host. */
export function publicOrigin(configured: string | undefined, host: string | undefined): string | undefined {
  if (configured !== undefined) return new URL(configured).origin;
  if (host === undefined) return undefined;
  return `${LOOPBACK.test(host) ? "http" : "https"}://${host}`;
}
