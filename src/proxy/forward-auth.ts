import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { BlockList } from "node:net";
import type { ForwardAuthConfig } from "../config/types.js";
import { describedRequest, isCheckTarget, parseCidr } from "../core/forward-auth.js";
import { validRequestId } from "../core/headers.js";
import type { Identity } from "../core/identity.js";
import { Refusal } from "../errors.js";
import { type AccessLog, accessLog, type Logger } from "../log.js";
import { methodLabel } from "../metrics.js";
import { errorAnswer } from "./answers.js";
import { type AuthorizationScope, type AuthorizingState, authorizeAndAdmit } from "./authorize.js";
import { NO_ROUTE, type ProxyRoute } from "./route-table.js";

/**
 * The forward-auth endpoint: an ingress asks whether a request may pass, and gets the proxy's own
 * decision (the same `authorize`) without the request being forwarded: 200 with the identity
 * headers, or the refusal the proxy would give (401, 403, …).
 */

/** `forwardAuth`, compiled once per config. */
export interface ForwardAuthEndpoint {
  readonly path: string;
  readonly listener: ForwardAuthConfig["listener"];
  readonly ingress: ForwardAuthConfig["ingress"];
  readonly sources: BlockList;
}

export function compileForwardAuth(config: ForwardAuthConfig | undefined): ForwardAuthEndpoint | undefined {
  if (config === undefined) return undefined;
  const sources = new BlockList();
  for (const entry of config.trustedSources) {
    const cidr = parseCidr(entry);
    // The schema checked every entry; one that does not parse here is a bug.
    if (cidr === undefined) throw new Error(`forwardAuth.trustedSources: ${entry} was not checked`);
    sources.addSubnet(cidr.address, cidr.prefix, cidr.family === 4 ? "ipv4" : "ipv6");
  }
  return { path: config.path, listener: config.listener, ingress: config.ingress, sources };
}

/**
 * Whether the asker's address is trusted. An IPv4 client of a dual-stack socket shows as
 * `::ffff:a.b.c.d`: BlockList matches that against IPv4 subnets itself.
 */
export function sourceAllowed(sources: BlockList, address: string | undefined): boolean {
  if (address === undefined) return false;
  return sources.check(address, address.includes(":") ? "ipv6" : "ipv4");
}

export interface ForwardAuthDeps {
  state: () => AuthorizingState & { readonly forwardAuth: ForwardAuthEndpoint | undefined };
  log: Logger;
  /** True once shutdown has begun: answers then ask the client to close its connection. */
  draining: () => boolean;
  /** Told when each request begins and when its response has closed (graceful stop waits). */
  requests: { requestStarted(): void; requestEnded(): void };
}

/**
 * Envoy removes from the upstream request the headers a 200 lists here (its HTTP ext_authz
 * service's `x-envoy-auth-headers-to-remove`); `allowed_upstream_headers` only overwrites.
 */
const ENVOY_REMOVE = "x-envoy-auth-headers-to-remove";

/**
 * What Envoy must remove so the upstream gets what the proxy would send: every identity header
 * this answer does not set (a client's own would otherwise pass), and the token's header when the
 * route keeps the token from the upstream (`forwardToken: false`).
 */
function envoyRemovals(
  identityNames: readonly string[],
  set: Record<string, string>,
  route: ProxyRoute,
): string {
  const names = identityNames.filter((n) => set[n] === undefined);
  const tokenHeader = route.tokenSource.headerName;
  // (A public route cannot say forwardToken: false: the config refuses it.)
  if (route.config.auth.forwardToken === false && tokenHeader !== undefined) names.push(tokenHeader);
  return names.join(", ");
}

/** One decision, with what its log line and metrics need. */
class Decision implements AuthorizationScope {
  route: ProxyRoute | undefined;
  path = "";
  query = "";
  identity: Identity | undefined;
  token: string | undefined;
  accessToken: string | undefined;
  setCookies: string[] | undefined;
}

/**
 * A request listener for `listener` that takes the requests to the forward-auth path (returns
 * true) and leaves every other one to the caller (returns false).
 */
export function createForwardAuth(deps: ForwardAuthDeps, listener: ForwardAuthConfig["listener"]) {
  const access = accessLog(deps.log);
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const state = deps.state();
    const endpoint = state.forwardAuth;
    if (endpoint === undefined || endpoint.listener !== listener) return false;
    if (!isCheckTarget(req.url ?? "", endpoint.ingress, endpoint.path)) return false;
    decide(deps, access, state, endpoint, req, res).catch(() => res.destroy());
    return true;
  };
}

async function decide(
  deps: ForwardAuthDeps,
  access: AccessLog,
  state: ReturnType<ForwardAuthDeps["state"]>,
  endpoint: ForwardAuthEndpoint,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const requestId = validRequestId(req.headers["x-request-id"]) ?? randomUUID();
  const decision = new Decision();
  let method = req.method ?? "GET";
  let target = "";
  deps.requests.requestStarted();
  res.on("close", () => deps.requests.requestEnded());
  const headers: Record<string, string> = { "cache-control": "no-store", "x-request-id": requestId };
  let status: number;
  let refusal: Refusal | undefined;
  try {
    if (!sourceAllowed(endpoint.sources, req.socket.remoteAddress)) {
      throw new Refusal("untrusted_source", `forward-auth asked by ${req.socket.remoteAddress}`);
    }
    const check = { method, url: req.url ?? "", headers: req.headers, rawHeaders: req.rawHeaders };
    const original = describedRequest(check, endpoint.ingress, endpoint.path);
    method = original.method;
    target = original.target;
    // Traefik hands a refusal's answer (a redirect too) to the browser; nginx's auth_request
    // takes only 2xx, 401 and 403.
    const facts = {
      ...original,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      redirects: endpoint.ingress === "traefik",
    };
    // The proxy's decision and then its rate limit: the same caller key, the same 429.
    const route = await authorizeAndAdmit(state, facts, decision, req.socket.remoteAddress);
    const { upstream } = route;
    if (upstream.callerHeaders === undefined) {
      throw new Refusal("aws_route", "forward-auth cannot sign for AWS");
    }
    // The identity headers, assertion and ALB headers the proxy would send, for the ingress to
    // copy to the upstream (auth-response-headers, authResponseHeaders, copy_headers).
    const caller = await upstream.callerHeaders(decision);
    for (let i = 0; i < caller.length; i += 2) headers[caller[i] as string] = caller[i + 1] as string;
    if (endpoint.ingress === "envoy") {
      const remove = envoyRemovals(state.routes.identityHeaderNames, headers, route);
      if (remove !== "") headers[ENVOY_REMOVE] = remove;
    }
    status = 200;
    headers["content-length"] = "0";
    if (decision.setCookies !== undefined) res.setHeader("set-cookie", decision.setCookies);
    if (deps.draining()) headers.connection = "close";
    res.writeHead(status, headers).end();
  } catch (err) {
    refusal = err instanceof Refusal ? err : new Refusal("bad_request", (err as Error)?.message);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const answer = errorAnswer(refusal, requestId);
    if (decision.setCookies !== undefined) res.setHeader("set-cookie", decision.setCookies);
    if (deps.draining()) answer.headers.connection = "close";
    status = answer.status;
    res.writeHead(answer.status, answer.headers).end(answer.body);
  }
  account(access, state, decision, { started, method, target, status, refusal, requestId });
}

/** Counts the decision on its route and writes its access line. */
function account(
  access: AccessLog,
  state: ReturnType<ForwardAuthDeps["state"]>,
  decision: Decision,
  r: {
    started: number;
    method: string;
    target: string;
    status: number;
    refusal: Refusal | undefined;
    requestId: string;
  },
): void {
  const seconds = (performance.now() - r.started) / 1000;
  const metrics = decision.route?.metrics ?? state.routes.unmatched;
  metrics.request(methodLabel(r.method), r.status);
  metrics.requestDuration.observe(seconds);
  const { refusal } = r;
  if (refusal !== undefined && refusal.reason !== "no_route") metrics.authFailure(refusal.reason);
  if (!access.enabled()) return;
  const queryAt = r.target.indexOf("?");
  const line = {
    requestId: r.requestId,
    route: decision.route?.id ?? NO_ROUTE,
    method: r.method,
    path: queryAt < 0 ? r.target : r.target.slice(0, queryAt),
    status: r.status,
    durationMs: Math.round(seconds * 1e4) / 10,
    sub: decision.identity?.subject,
    forwardAuth: true,
  };
  if (refusal === undefined) access.write(line, "forward-auth allowed");
  else access.write({ ...line, reason: refusal.reason, detail: refusal.message }, "forward-auth refused");
}
