import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { Agent } from "undici";
import { createAdminServer } from "./admin/server.js";
import { UndiciJwksFetcher } from "./auth/jwks-fetcher.js";
import { resolveIssuer, TokenVerifier } from "./auth/verifier.js";
import type { Config } from "./config/schema.js";
import { ERRORS, GatewayError } from "./errors.js";
import { Lifecycle } from "./lifecycle.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { UpstreamPools } from "./proxy/forwarder.js";
import { Gateway } from "./proxy/gateway.js";
import {
  createRequestHandler,
  createUpgradeHandler,
  errorResponse,
  type RuntimeState,
} from "./proxy/handler.js";

export interface AppOptions {
  logger?: Logger;
}

export interface App {
  readonly metrics: Metrics;
  /** Binds both listeners and starts loading every issuer's JWKS; resolves once listening. */
  start(): Promise<{ port: number; adminPort: number }>;
  /** True once every issuer's JWKS is loaded, until shutdown begins. */
  ready(): boolean;
  /** Graceful stop: not ready, stop accepting, drain up to the configured deadline, close. */
  stop(): Promise<void>;
}

const JWKS_RETRY_MIN_MS = 500;
const JWKS_RETRY_MAX_MS = 30_000;

/** The composition root: config in, servers out. */
export function createApp(config: Config, options: AppOptions = {}): App {
  const log = options.logger ?? createLogger(config.log.level);
  const metrics = createMetrics();
  const lifecycle = new Lifecycle();
  const jwksAgent = new Agent({ keepAliveTimeout: 30_000, connections: 4 });

  const issuers = config.issuers.map(resolveIssuer);
  const issuerByUri = new Map(issuers.map((i) => [i.jwksUri, i.id]));
  const verifier = new TokenVerifier({
    issuers,
    fetcher: new UndiciJwksFetcher({
      timeoutMs: config.tokens.jwksTimeoutMs,
      maxBytes: config.tokens.jwksMaxBytes,
      dispatcher: jwksAgent,
      onResult: (uri, ok) =>
        metrics.jwksFetches.inc({
          issuer: issuerByUri.get(uri) ?? "unknown",
          result: ok ? "success" : "failure",
        }),
    }),
    clockSkewSeconds: config.tokens.clockSkewSeconds,
    cacheMaxEntries: config.tokens.cacheMaxEntries,
    unknownKidWaitSeconds: config.tokens.unknownKidWaitSeconds,
    onCacheHit: () => metrics.tokenCacheHits.inc(),
    onCacheMiss: () => metrics.tokenCacheMisses.inc(),
  });
  const state: RuntimeState = { gateway: new Gateway(config), verifier };
  const pools = new UpstreamPools({
    connectTimeoutMs: config.limits.upstreamConnectTimeoutMs,
    maxConnections: config.limits.maxConnectionsPerUpstream,
    keepAliveTimeoutMs: config.limits.keepAliveTimeoutMs,
  });

  const deps = { state: () => state, pools, metrics, log, draining: () => lifecycle.draining };
  const handleRequest = createRequestHandler(deps);
  const handleUpgrade = createUpgradeHandler(deps);
  const { limits } = config;

  const server: Server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node checks the two timeouts above; its 30 s default would let them overrun.
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  });
  // A socket with no traffic either way for this long is closed, so a client that stops reading
  // cannot hold it forever; longer than any upstream wait, so a slow upstream still gets its 504.
  const slowestUpstream = Math.max(
    ...config.routes.map((r) => r.upstream.timeoutMs ?? limits.upstreamTimeoutMs),
  );
  server.timeout = Math.max(limits.requestTimeoutMs, slowestUpstream) + 1000;
  // The exchange each connection is in, so a late parser error knows whether an answer went out.
  const exchanges = new WeakMap<object, { req: IncomingMessage; res: ServerResponse }>();
  server.on("request", (req, res) => {
    exchanges.set(req.socket, { req, res });
    lifecycle.trackRequest(res);
    handleRequest(req, res);
  });
  server.on("upgrade", (req, socket, head) => {
    lifecycle.trackUpgrade(socket);
    handleUpgrade(req, socket, head);
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Nothing more can be said on a closed socket, nor once this exchange's answer has begun
    // (say, the upstream answered before the client finished sending its body).
    const exchange = exchanges.get(socket);
    const answered = exchange !== undefined && !exchange.req.complete && exchange.res.headersSent;
    if (!socket.writable || answered) return socket.destroy();
    const code =
      err.code === "HPE_HEADER_OVERFLOW"
        ? "headers_too_large"
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "request_timeout"
          : "bad_request";
    const answer = errorResponse(new GatewayError(code, "malformed"), randomUUID());
    let head = `HTTP/1.1 ${answer.status} ${ERRORS[code].error}\r\nconnection: close\r\n`;
    for (const [k, v] of Object.entries(answer.headers)) head += `${k}: ${v}\r\n`;
    socket.end(`${head}\r\n${answer.body}`);
  });

  const ready = () => verifier.ready && !lifecycle.draining;
  const admin = createAdminServer({ registry: metrics.registry, ready });
  let hydrating = true;

  // Keys an issuer has withdrawn stop being trusted within jwksRefreshSeconds; a failed refresh
  // keeps the keys already cached.
  const refresh = setInterval(() => {
    for (const issuer of issuers) {
      verifier.hydrateIssuer(issuer).catch((err: unknown) => {
        log.warn({ issuer: issuer.id, err: (err as Error).message }, "issuer keys not refreshed");
      });
    }
  }, config.tokens.jwksRefreshSeconds * 1000);
  refresh.unref();

  async function hydrate(): Promise<void> {
    await Promise.all(
      issuers.map(async (issuer) => {
        let wait = JWKS_RETRY_MIN_MS;
        while (hydrating) {
          try {
            await verifier.hydrateIssuer(issuer);
            log.info({ issuer: issuer.id }, "issuer keys loaded");
            return;
          } catch (err) {
            log.warn(
              { issuer: issuer.id, err: (err as Error).message, retryInMs: wait },
              "issuer keys not loaded",
            );
            await new Promise((r) => setTimeout(r, wait).unref());
            wait = Math.min(wait * 2, JWKS_RETRY_MAX_MS);
          }
        }
      }),
    );
  }

  const listen = (s: Server, host: string, port: number) =>
    new Promise<number>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, host, () => {
        s.off("error", reject);
        resolve((s.address() as AddressInfo).port);
      });
    });

  return {
    metrics,
    ready,
    async start() {
      const port = await listen(server, config.listen.host, config.listen.port);
      const adminPort = await listen(admin, config.admin.host, config.admin.port);
      void hydrate();
      log.info(
        { port, adminPort, routes: config.routes.length, issuers: issuers.length },
        "cupbearer listening",
      );
      return { port, adminPort };
    },
    async stop() {
      hydrating = false;
      clearInterval(refresh);
      log.info({ inFlight: lifecycle.active }, "shutting down");
      await lifecycle.drain(server, config.shutdown.drainTimeoutMs);
      await pools.close();
      await jwksAgent.close();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      admin.closeAllConnections();
      log.info("stopped");
      log.flush();
    },
  };
}
