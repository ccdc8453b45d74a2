import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Pool } from "undici";
import type { TokenVerifier } from "../auth/verifier.js";
import { upstreamRequestHeaders, validRequestId } from "../core/headers.js";
import { type Identity, identityHeaders } from "../core/identity.js";
import { evaluate } from "../core/policy.js";
import { ERRORS, type FailureReason, GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import { type Metrics, methodLabel } from "../metrics.js";
import { type AwsTarget, type HeldBodyBudget, signRequest, type UnsignedRequest } from "./aws-upstream.js";
import { abortOnClientClose, forward, forwardUpgrade, type UpstreamPools } from "./forwarder.js";
import type { Gateway, GatewayMatch } from "./gateway.js";

/** The config-derived state one request runs on, swapped as a whole on reload. */
export interface RuntimeState {
  gateway: Gateway;
  verifier: TokenVerifier;
}

export interface HandlerDeps {
  state: () => RuntimeState;
  pools: UpstreamPools;
  metrics: Metrics;
  log: Logger;
  /** Bytes of request bodies held in memory, across requests (AWS routes that hash bodies). */
  heldBodies: HeldBodyBudget;
  /** True once shutdown has begun: answers then ask the client to close its connection. */
  draining: () => boolean;
}

interface Authorized {
  match: GatewayMatch;
  identity: Identity | undefined;
  /** The verified token, kept for exchanges at an identity pool (never logged). */
  token: string | undefined;
}

/** Where an authorized request goes. */
interface Upstream {
  pool: Pool;
  timeoutMs: number;
  responseHeaders: Record<string, string>;
}

const NO_ROUTE = "none";
const BODY_REFUSALS = new Set<FailureReason>(["body_too_large", "busy", "malformed"]);
/** 5xx refusals that still count as auth failures: the request never reached the upstream. */
const AUTH_OUTAGES = new Set<FailureReason>([
  "jwks_unavailable",
  "credentials_throttled",
  "credentials_unavailable",
]);

/** Route match, token, verification and rules: everything that decides whether a request passes. */
async function authorize(state: RuntimeState, req: IncomingMessage, method: string): Promise<Authorized> {
  const match = state.gateway.match(req.headers.host, method, req.url ?? "");
  if (match === undefined) throw new GatewayError("not_found", "no_route");
  const { route } = match;
  if (route.mode === "public") return { match, identity: undefined, token: undefined };
  const token = route.tokenSource.extract(req.headers, req.rawHeaders, match.query);
  if (token === undefined) {
    if (route.mode === "optional") return { match, identity: undefined, token: undefined };
    throw new GatewayError("missing_token", "missing");
  }
  const identity = await state.verifier.verify(token);
  const decision = evaluate(route.rules, identity.issuerId, identity.claims);
  if (!decision.allow) throw new GatewayError("insufficient_scope", decision.reason);
  return { match, identity, token };
}

/** The headers, path and query the upstream receives for an authorized request. */
function upstreamRequest(
  state: RuntimeState,
  req: IncomingMessage,
  { match, identity }: Authorized,
  requestId: string,
): { path: string; query: string; headers: string[] } {
  const { route } = match;
  const { gateway } = state;
  let query = match.query;
  let strippedHeader: string | undefined;
  const append: string[] = [];

  if (!route.forwardToken && route.mode !== "public") {
    const source = route.tokenSource;
    if (source.headerName !== undefined) strippedHeader = source.headerName;
    query = source.stripFromQuery(query);
    const cookie = req.headers.cookie;
    if (cookie !== undefined) {
      const kept = source.stripFromCookie(cookie);
      if (kept !== cookie) {
        strippedHeader = "cookie";
        if (kept !== undefined) append.push("cookie", kept);
      }
    }
  }
  // AWS answers to the signature alone: identity headers would only tell it what it ignores.
  if (identity !== undefined && route.aws === undefined) {
    for (const [name, value] of identityHeaders(identity, route.claimHeaders)) append.push(name, value);
  }

  const remote = req.socket.remoteAddress ?? "";
  const h = req.headers;
  if (gateway.trustForwardedHeaders) {
    const xff = h["x-forwarded-for"];
    append.push("x-forwarded-for", typeof xff === "string" && xff !== "" ? `${xff}, ${remote}` : remote);
    append.push(
      "x-forwarded-proto",
      typeof h["x-forwarded-proto"] === "string" ? h["x-forwarded-proto"] : "http",
    );
    const xfh = h["x-forwarded-host"];
    append.push("x-forwarded-host", typeof xfh === "string" ? xfh : (h.host ?? ""));
  } else {
    append.push("x-forwarded-for", remote, "x-forwarded-proto", "http", "x-forwarded-host", h.host ?? "");
  }
  append.push("x-request-id", requestId);

  return {
    path: route.upstreamPath(match.path),
    query,
    headers: upstreamRequestHeaders(
      req.rawHeaders,
      gateway.headerFilter,
      h.connection,
      strippedHeader,
      append,
    ),
  };
}

function challenge(err: GatewayError): string | undefined {
  if (err.code === "missing_token") return 'Bearer realm="cupbearer"';
  if (err.code === "invalid_token") return 'Bearer realm="cupbearer", error="invalid_token"';
  if (err.code === "insufficient_scope") return 'Bearer realm="cupbearer", error="insufficient_scope"';
  return undefined;
}

/** The one place a refusal becomes an HTTP answer: terse JSON, no internal detail, never the token. */
export function errorResponse(
  err: GatewayError,
  requestId: string,
): { status: number; headers: Record<string, string>; body: string } {
  const spec = ERRORS[err.code];
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-request-id": requestId,
  };
  const www = challenge(err);
  if (www !== undefined) headers["www-authenticate"] = www;
  if (err.retryAfterSeconds !== undefined) headers["retry-after"] = String(err.retryAfterSeconds);
  const body = JSON.stringify({ error: spec.error, message: spec.message, requestId });
  headers["content-length"] = String(Buffer.byteLength(body));
  return { status: spec.status, headers, body };
}

function asGatewayError(err: unknown): GatewayError {
  return err instanceof GatewayError
    ? err
    : new GatewayError("bad_gateway", "upstream_error", (err as Error)?.message);
}

/** The request pipeline for plain HTTP requests. */
export function createRequestHandler(deps: HandlerDeps) {
  const { metrics, log } = deps;
  // One bound child per route: labels() hashes its arguments on every call.
  const signedCounters = new Map<string, ReturnType<Metrics["signedRequests"]["labels"]>>();
  const signedCounter = (route: string, service: string) => {
    const key = `${route}\n${service}`;
    let counter = signedCounters.get(key);
    if (counter === undefined) {
      counter = metrics.signedRequests.labels({ route, service });
      signedCounters.set(key, counter);
    }
    return counter;
  };

  /** An AWS route: credentials, confinement, the body, the signature, then the same relay. */
  async function forwardSigned(
    aws: AwsTarget,
    routeId: string,
    req: IncomingMessage,
    res: ServerResponse,
    authorized: Authorized,
    unsigned: UnsignedRequest,
    upstream: Upstream,
  ): Promise<number> {
    let continued = false;
    const sendContinue = () => {
      if (continued || req.headers.expect?.toLowerCase() !== "100-continue") return;
      continued = true;
      res.writeContinue();
    };
    const signed = await signRequest(aws, req, authorized, unsigned, sendContinue, deps.heldBodies);
    // A held body is given back once the upstream answers (it has had it all), or with the
    // exchange's end, whichever comes first.
    res.once("close", signed.release);
    signedCounter(routeId, aws.service).inc();
    sendContinue();
    const started = performance.now();
    return forward(
      upstream.pool,
      {
        method: unsigned.method,
        path: signed.path,
        headers: signed.headers,
        body: signed.body,
        timeoutMs: upstream.timeoutMs,
        responseHeaders: upstream.responseHeaders,
        errorBody: signed.errorBody,
      },
      res,
      () => {
        signed.release();
        metrics.upstreamDuration.observe({ route: routeId }, (performance.now() - started) / 1000);
      },
    );
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const method = req.method ?? "GET";
    const requestId = validRequestId(req.headers["x-request-id"]) ?? randomUUID();
    const state = deps.state();
    let routeId = NO_ROUTE;
    let subject: string | undefined;
    let failure: GatewayError | undefined;

    res.once("close", () => {
      abortOnClientClose(res);
      const status = res.headersSent ? res.statusCode : 499;
      const seconds = (performance.now() - started) / 1000;
      metrics.requests.inc({ route: routeId, method: methodLabel(method), status });
      metrics.requestDuration.observe({ route: routeId }, seconds);
      if (!log.isLevelEnabled("info")) return;
      const line = {
        requestId,
        route: routeId,
        method,
        path: req.url?.split("?", 1)[0],
        status,
        durationMs: Math.round(seconds * 1e4) / 10,
        sub: subject,
      };
      if (failure === undefined) log.info(line, "request");
      else log.info({ ...line, reason: failure.reason, detail: failure.message }, "request refused");
    });

    const fail = (err: unknown) => {
      failure = asGatewayError(err);
      if (routeId !== NO_ROUTE || failure.code !== "not_found") {
        if (failure.status < 500 || AUTH_OUTAGES.has(failure.reason)) {
          metrics.authFailures.inc({ route: routeId, reason: failure.reason });
        }
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const answer = errorResponse(failure, requestId);
      // A body refused half-read is not read further: the connection cannot carry another request.
      const bodyLeft = !req.complete && BODY_REFUSALS.has(failure.reason);
      if (deps.draining() || bodyLeft) answer.headers.connection = "close";
      res.writeHead(answer.status, answer.headers).end(answer.body);
    };

    authorize(state, req, method)
      .then(
        (authorized) => {
          routeId = authorized.match.route.id;
          subject = authorized.identity?.subject;
          const { route } = authorized.match;
          const unsigned = upstreamRequest(state, req, authorized, requestId);
          const responseHeaders: Record<string, string> = { "x-request-id": requestId };
          if (deps.draining()) responseHeaders.connection = "close";
          if (route.aws !== undefined) {
            return forwardSigned(
              route.aws,
              routeId,
              req,
              res,
              authorized,
              { method, ...unsigned },
              {
                pool: deps.pools.get(route.upstreamOrigin),
                timeoutMs: route.timeoutMs,
                responseHeaders,
              },
            );
          }
          // Kept apart from the signed path and straight: this is the path every plain request takes.
          const hasBody =
            req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
          if (req.headers.expect?.toLowerCase() === "100-continue") res.writeContinue();
          const upstreamStarted = performance.now();
          return forward(
            deps.pools.get(route.upstreamOrigin),
            {
              method,
              path: unsigned.path + unsigned.query,
              headers: unsigned.headers,
              body: hasBody ? req : null,
              timeoutMs: route.timeoutMs,
              responseHeaders,
            },
            res,
            () =>
              metrics.upstreamDuration.observe(
                { route: routeId },
                (performance.now() - upstreamStarted) / 1000,
              ),
          );
        },
        (err: unknown) => {
          // The route is known even when its rules refused the request: label the failure with it.
          routeId = routeOf(state, req, method) ?? NO_ROUTE;
          throw err;
        },
      )
      .catch(fail);
  };
}

function routeOf(state: RuntimeState, req: IncomingMessage, method: string): string | undefined {
  try {
    return state.gateway.match(req.headers.host, method, req.url ?? "")?.route.id;
  } catch {
    return undefined;
  }
}

/** WebSocket and other upgrades: authorized exactly like a request, then spliced both ways. */
export function createUpgradeHandler(deps: HandlerDeps) {
  const { metrics, log } = deps;
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const method = req.method ?? "GET";
    const requestId = validRequestId(req.headers["x-request-id"]) ?? randomUUID();
    const state = deps.state();
    const protocol = (req.headers.upgrade ?? "").toLowerCase();
    socket.on("error", () => socket.destroy());

    const refuse = (err: unknown) => {
      const failure = asGatewayError(err);
      const routeId = routeOf(state, req, method) ?? NO_ROUTE;
      if (failure.status < 500 && failure.code !== "not_found")
        metrics.authFailures.inc({ route: routeId, reason: failure.reason });
      metrics.requests.inc({ route: routeId, method: methodLabel(method), status: failure.status });
      log.info(
        {
          requestId,
          route: routeId,
          method,
          status: failure.status,
          reason: failure.reason,
          upgrade: protocol,
        },
        "upgrade refused",
      );
      const answer = errorResponse(failure, requestId);
      let text = `HTTP/1.1 ${answer.status} ${ERRORS[failure.code].error}\r\nconnection: close\r\n`;
      for (const [k, v] of Object.entries(answer.headers)) text += `${k}: ${v}\r\n`;
      socket.end(`${text}\r\n${answer.body}`);
    };

    if (protocol !== "websocket") {
      refuse(new GatewayError("bad_request", "malformed", "only websocket upgrades are proxied"));
      return;
    }
    authorize(state, req, method)
      .then((authorized) => {
        const { route } = authorized.match;
        if (route.aws !== undefined) {
          throw new GatewayError("bad_request", "malformed", "no upgrades to AWS services");
        }
        const { path, query, headers } = upstreamRequest(state, req, authorized, requestId);
        return forwardUpgrade(
          deps.pools.get(route.upstreamOrigin),
          { path: path + query, headers, timeoutMs: route.timeoutMs, protocol },
          socket,
          head,
        ).then(() => {
          metrics.requests.inc({ route: route.id, method: methodLabel(method), status: 101 });
          log.info(
            { requestId, route: route.id, method, status: 101, sub: authorized.identity?.subject },
            "upgrade",
          );
        });
      })
      .catch(refuse);
  };
}
