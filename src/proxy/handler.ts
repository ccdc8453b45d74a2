import { randomFillSync, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { addCorsHeaders } from "../core/cors.js";
import { validRequestId } from "../core/headers.js";
import { requestHost } from "../core/host.js";
import type { Identity } from "../core/identity.js";
import { type TraceContext, traceContext } from "../core/trace.js";
import { Refusal } from "../errors.js";
import { type AccessLog, accessLog, type Logger } from "../log.js";
import { methodLabel, type RouteMetrics } from "../metrics.js";
import { NO_SPAN, type Span, type Tracer, traced } from "../tracing.js";
import { errorAnswer, writeRawAnswer } from "./answers.js";
import { type AuthorizingState, authorizeAndAdmit } from "./authorize.js";
import { answerPreflight, findPreflight } from "./cors.js";
import { forward, forwardUpgrade, type UpstreamConnections } from "./forwarder.js";
import { NO_ROUTE, type ProxyRoute } from "./route-table.js";
import { answerSessionPath, sessionPath } from "./sessions.js";
import { requestSpan, upstreamSpan } from "./spans.js";
import { type AuthorizedExchange, NOTHING_HELD } from "./upstream.js";

/** The config-derived state one request runs on, swapped as a whole on reload: what authorizing needs. */
export type RuntimeState = AuthorizingState;

export interface HandlerDeps {
  state: () => RuntimeState;
  connections: UpstreamConnections;
  log: Logger;
  /** True once shutdown has begun: answers then ask the client to close its connection. */
  draining: () => boolean;
  /** Told when each plain request begins and when its response has closed (graceful stop waits). */
  requests: { requestStarted(): void; requestEnded(): void };
  /** Records spans when traces are exported (tracing.ts); absent, nothing is recorded. */
  tracer?: Tracer | undefined;
}

/** What an exchange runs on: the handler's deps and the access log made once from its logger. */
interface ExchangeDeps extends HandlerDeps {
  readonly access: AccessLog;
}

const exchangeDeps = (deps: HandlerDeps): ExchangeDeps => ({ ...deps, access: accessLog(deps.log) });

/** Refusals that happen after the request left for the upstream: not the caller's failure. */
const UPSTREAM_FAILURES = new Set(["upstream_error", "upstream_timeout"]);

/** Random bytes for new traces, drawn 4 KiB at a time: one system call per about 170 requests. */
const randomPool = Buffer.allocUnsafe(4096);
let randomAt = randomPool.length;

function randomHex(bytes: number): string {
  if (randomAt + bytes > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  randomAt += bytes;
  return randomPool.toString("hex", randomAt - bytes, randomAt);
}

function asRefusal(err: unknown): Refusal {
  return err instanceof Refusal ? err : new Refusal("upstream_error", (err as Error)?.message);
}

/**
 * One request, from match to the log line: the steps are match → authorize → prepare → forward →
 * count, the same for every route; what differs per upstream lives in the route's strategy.
 */
abstract class Exchange implements AuthorizedExchange {
  readonly started = performance.now();
  readonly method: string;
  readonly requestId: string;
  readonly trace: TraceContext;
  /** This request's span: NO_SPAN unless traces are exported. */
  readonly span: Span;
  readonly state: RuntimeState;
  route: ProxyRoute | undefined;
  path = "";
  query = "";
  identity: Identity | undefined;
  token: string | undefined;
  accessToken: string | undefined;
  setCookies: string[] | undefined;
  refusal: Refusal | undefined;
  abstract readonly hasBody: boolean;

  constructor(
    readonly req: IncomingMessage,
    protected readonly deps: ExchangeDeps,
  ) {
    this.method = req.method ?? "GET";
    this.requestId = validRequestId(req.headers["x-request-id"]) ?? randomUUID();
    this.trace = traceContext(req.headers.traceparent, randomHex);
    this.span = deps.tracer === undefined ? NO_SPAN : requestSpan(deps.tracer, req, this.method, this.trace);
    this.state = deps.state();
  }

  abstract continueBody(): void;

  /**
   * The route and the caller, or a Refusal (thrown, or a rejection): the decision the forward-auth
   * endpoint shares. Synchronous on the usual path (authorizeRequest).
   */
  protected authorize(): ProxyRoute | Promise<ProxyRoute> {
    const { req } = this;
    const facts = {
      host: requestHost(req.rawHeaders),
      method: this.method,
      target: req.url ?? "",
      headers: req.headers,
      rawHeaders: req.rawHeaders,
    };
    // Once the caller is known: a limit is per caller (guests by their address).
    return authorizeAndAdmit(this.state, facts, this, req.socket.remoteAddress);
  }

  /** The route's CORS headers on an answer, the upstream's or cupbearer's own. */
  decorate(headers: Record<string, string | string[]>): void {
    const cors = this.route?.cors;
    if (cors !== undefined) addCorsHeaders(cors, this.req.headers.origin, headers);
    // A refreshed, ended or starting session: its cookies join the upstream's own.
    const { setCookies } = this;
    if (setCookies !== undefined && setCookies.length > 0) {
      const theirs = headers["set-cookie"];
      headers["set-cookie"] = theirs === undefined ? setCookies : [...setCookies, ...[theirs].flat()];
      // A personal answer: no shared cache may keep it.
      headers["cache-control"] = "no-store";
    }
  }

  protected get metrics(): RouteMetrics {
    return this.route?.metrics ?? this.state.routes.unmatched;
  }

  /** Remembers why the request was refused and counts it; returns the refusal. */
  protected refused(err: unknown): Refusal {
    const refusal = asRefusal(err);
    this.refusal = refusal;
    if (refusal.reason !== "no_route" && !UPSTREAM_FAILURES.has(refusal.reason)) {
      this.metrics.authFailure(refusal.reason);
    }
    return refusal;
  }

  /** Counts the answer and writes the access line. */
  protected account(status: number, extra?: Record<string, string>): void {
    const seconds = (performance.now() - this.started) / 1000;
    const metrics = this.metrics;
    if (this.span !== NO_SPAN) {
      if (this.route !== undefined) this.span.setAttribute("cupbearer.route", this.route.id);
      this.span.end(status, this.refusal?.reason);
    }
    metrics.request(methodLabel(this.method), status);
    metrics.requestDuration.observe(seconds);
    const { access } = this.deps;
    if (!access.enabled()) return;
    const url = this.req.url ?? "";
    const queryAt = url.indexOf("?");
    const line = {
      requestId: this.requestId,
      traceId: this.trace.traceId,
      route: this.route?.id ?? NO_ROUTE,
      method: this.method,
      path: queryAt < 0 ? url : url.slice(0, queryAt),
      status,
      durationMs: Math.round(seconds * 1e4) / 10,
      sub: this.identity?.subject,
      issuer: this.identity?.issuerId,
      ...extra,
    };
    const { refusal } = this;
    if (refusal === undefined) access.write(line, "request");
    else
      access.write(
        { ...line, reason: refusal.reason, rule: refusal.rule, detail: refusal.message },
        "request refused",
      );
  }
}

/** A plain HTTP request and its response. */
class RequestExchange extends Exchange {
  readonly hasBody: boolean;
  #continued = false;
  #release = NOTHING_HELD;
  #cancelUpstream: (() => void) | undefined;

  constructor(
    req: IncomingMessage,
    private readonly res: ServerResponse,
    deps: ExchangeDeps,
  ) {
    super(req, deps);
    const length = req.headers["content-length"];
    this.hasBody = req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
    // The one close listener of the request: it accounts, releases and cancels the upstream call.
    res.on("close", this.closed);
    deps.requests.requestStarted();
  }

  continueBody(): void {
    if (this.#continued) return;
    this.#continued = true;
    if (this.req.headers.expect?.toLowerCase() === "100-continue") this.res.writeContinue();
  }

  async run(): Promise<void> {
    const { sessions } = this.state;
    const own = sessions === undefined ? undefined : sessionPath(sessions, this.req.url ?? "");
    if (sessions !== undefined && own !== undefined) {
      return answerSessionPath(sessions, own, this.req, this.res, (cookies) => {
        this.setCookies = cookies;
      });
    }
    const preflight = findPreflight(this.state.routes, this.method, this.req);
    if (preflight !== undefined) {
      this.route = preflight.route;
      return answerPreflight(preflight, this.req, this.res, this);
    }
    // Awaited only when they are promises: each await of a value is a promise and a pause more.
    const authorized = this.authorize();
    const route = authorized instanceof Promise ? await authorized : authorized;
    const { upstream } = route;
    const preparing = upstream.prepare(this);
    const prepared = preparing instanceof Promise ? await preparing : preparing;
    this.#release = prepared.release;
    this.continueBody();
    const { tracer } = this.deps;
    const call =
      tracer === undefined
        ? NO_SPAN
        : upstreamSpan(tracer, this.span, this.method, upstream.origin, prepared);
    const upstreamStarted = performance.now();
    await traced(
      call,
      forward(
        this.deps.connections.get(upstream.origin),
        prepared,
        upstream.timeoutMs,
        this.res,
        this,
        () => {
          // The upstream has had the whole body: what was held for it can go.
          this.release();
          route.metrics.upstreamDuration.observe((performance.now() - upstreamStarted) / 1000);
        },
      ),
      (err) => asRefusal(err).reason,
    );
  }

  draining = (): boolean => this.deps.draining();

  cancelWith(cancel: () => void): void {
    this.#cancelUpstream = cancel;
  }

  private release(): void {
    this.#release();
    this.#release = NOTHING_HELD;
  }

  readonly fail = (err: unknown): void => {
    const refusal = this.refused(err);
    const { res, req } = this;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // The route's dialect (S3's XML, DynamoDB's JSON) once a route is known, else cupbearer's JSON.
    const answer = (this.route?.answer ?? errorAnswer)(refusal, this.requestId);
    this.decorate(answer.headers);
    // A body not read yet is never read: the connection cannot carry another request.
    if (this.deps.draining() || !req.complete) answer.headers.connection = "close";
    res.writeHead(answer.status, answer.headers).end(answer.body);
  };

  private readonly closed = (): void => {
    this.#cancelUpstream?.();
    this.release();
    this.account(this.res.headersSent ? this.res.statusCode : 499);
    this.deps.requests.requestEnded();
  };
}

/** A WebSocket upgrade: authorized exactly like a request, then spliced both ways. */
class UpgradeExchange extends Exchange {
  readonly hasBody = false;

  constructor(
    req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
    deps: ExchangeDeps,
  ) {
    super(req, deps);
  }

  continueBody(): void {}

  async run(): Promise<void> {
    const protocol = (this.req.headers.upgrade ?? "").toLowerCase();
    if (protocol !== "websocket") throw new Refusal("bad_upgrade", "only websocket upgrades are proxied");
    // RFC 6455 §4.1: an upgrade is a GET, and is authorized as the GET it is forwarded as.
    if (this.method !== "GET") throw new Refusal("bad_upgrade", "an upgrade must be a GET");
    const route = await this.authorize();
    const { upstream } = route;
    if (!upstream.upgrades) throw new Refusal("bad_upgrade", `no upgrades to ${upstream.kind} upstreams`);
    const prepared = await upstream.prepare(this);
    await forwardUpgrade(
      this.deps.connections.get(upstream.origin),
      { path: prepared.path, headers: prepared.headers, protocol },
      upstream.timeoutMs,
      this.socket,
      this.head,
    );
    this.account(101, { upgrade: protocol });
  }

  readonly fail = (err: unknown): void => {
    const refusal = this.refused(err);
    writeRawAnswer(this.socket, refusal, this.requestId);
    this.account(refusal.status, { upgrade: (this.req.headers.upgrade ?? "").toLowerCase() });
  };
}

/** The request pipeline for plain HTTP requests. */
export function createRequestHandler(handlerDeps: HandlerDeps) {
  const deps = exchangeDeps(handlerDeps);
  return (req: IncomingMessage, res: ServerResponse): void => {
    const exchange = new RequestExchange(req, res, deps);
    exchange.run().catch(exchange.fail);
  };
}

/** WebSocket upgrades. */
export function createUpgradeHandler(handlerDeps: HandlerDeps) {
  const deps = exchangeDeps(handlerDeps);
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on("error", () => socket.destroy());
    const exchange = new UpgradeExchange(req, socket, head, deps);
    exchange.run().catch(exchange.fail);
  };
}
