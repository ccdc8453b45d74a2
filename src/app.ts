import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer, type Server as TlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { Agent } from "undici";
import { createAdminServer } from "./admin/server.js";
import { IdentityPools } from "./aws/pools.js";
import { type Config, ConfigError } from "./config/types.js";
import { Refusal } from "./errors.js";
import { Lifecycle } from "./lifecycle.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { writeRawAnswer } from "./proxy/answers.js";
import { createForwardAuth } from "./proxy/forward-auth.js";
import { UpstreamConnections } from "./proxy/forwarder.js";
import { createRequestHandler, createUpgradeHandler } from "./proxy/handler.js";
import { HeldBodyBudget } from "./proxy/held-body.js";
import { readTlsFiles, tlsServerOptions, watchTlsFiles } from "./proxy/tls-listener.js";
import { Runtime } from "./runtime.js";
import { RedisStore } from "./store/redis-store.js";
import type { Tracer } from "./tracing.js";

export interface AppOptions {
  logger?: Logger;
  /**
   * Sees every request (and WebSocket upgrade) before the handler does; `cupbearer dev --as`
   * adds a stored user's token to requests that carry none, which are then verified as usual.
   */
  beforeRequest?: (req: IncomingMessage) => void;
  /**
   * Records spans (tracing.ts `loadTracer`, when an OTLP endpoint is configured); shut down, so
   * flushed, by `stop`. Absent, nothing is recorded and no OpenTelemetry code is loaded.
   */
  tracer?: Tracer | undefined;
}

export interface App {
  readonly metrics: Metrics;
  /** Binds both listeners and starts loading every issuer's JWKS; resolves once listening. */
  start(): Promise<{ port: number; adminPort: number }>;
  /** True once every issuer's JWKS is loaded, until shutdown begins. */
  ready(): boolean;
  /**
   * Loads a new config and, if it is valid and its issuers' keys load, swaps routes, rules and
   * issuers in one step: requests in flight finish on the config they started with. Anything
   * wrong changes nothing; the reason is logged and counted. Resolves true when swapped.
   */
  reload(load: () => Promise<Config>): Promise<boolean>;
  /** Graceful stop: not ready, stop accepting, drain up to the configured deadline, close. */
  stop(): Promise<void>;
}

/** Longest wait for the shared store at start-up. */
const STORE_START_WAIT_MS = 2_000;

/** Settings bound when the listeners and pools are created: a reload cannot change them. */
const RESTART_ONLY = [
  // The TLS files are re-read on reload; turning TLS on or off, or client certificates, is not.
  ["listen", (c: Config) => ({ ...c.listen, tls: c.listen.tls && { clientAuth: c.listen.tls.clientAuth } })],
  ["admin", (c: Config) => c.admin],
  ["limits.maxHeaderBytes", (c: Config) => c.limits.maxHeaderBytes],
  ["limits.headersTimeoutMs", (c: Config) => c.limits.headersTimeoutMs],
  ["limits.requestTimeoutMs", (c: Config) => c.limits.requestTimeoutMs],
  ["limits.keepAliveTimeoutMs", (c: Config) => c.limits.keepAliveTimeoutMs],
  ["limits.upstreamConnectTimeoutMs", (c: Config) => c.limits.upstreamConnectTimeoutMs],
  ["limits.maxConnectionsPerUpstream", (c: Config) => c.limits.maxConnectionsPerUpstream],
  ["limits.maxClientConnections", (c: Config) => c.limits.maxClientConnections],
  ["limits.maxHeldBodyBytes", (c: Config) => c.limits.maxHeldBodyBytes],
  ["store", (c: Config) => c.store],
] as const;

/**
 * The fleet's shared store: counted, and logged once each time it stops or starts answering
 * (never with its URL or credentials).
 */
function createStore(
  config: NonNullable<Config["store"]>["redis"],
  metrics: Metrics,
  log: Logger,
): RedisStore {
  return new RedisStore({
    ...(config.url !== undefined && { url: config.url }),
    ...(config.sentinel !== undefined && { sentinel: config.sentinel }),
    ...(config.cluster !== undefined && { cluster: config.cluster }),
    keyPrefix: config.keyPrefix,
    encryptionKeys: config.encryptionKeys,
    timeoutMs: config.timeoutMs,
    lockWaitMs: config.lockWaitMs,
    observer: {
      operation: (op, result, seconds) => {
        metrics.storeOperations.inc({ op, result });
        metrics.storeDuration.observe({ op }, seconds);
      },
      stateChange: (up, detail) => {
        if (up) log.info("shared store answering again: fleet-wide caches and limits are back");
        else
          log.warn(
            { detail },
            "shared store not answering: going on with local caches, direct calls and per-pod limits",
          );
      },
    },
  });
}

/** The composition root: config in, servers out. */
export function createApp(config: Config, options: AppOptions = {}): App {
  const log = options.logger ?? createLogger(config.log.level);
  const metrics = createMetrics();
  const lifecycle = new Lifecycle();
  const jwksAgent = new Agent({ keepAliveTimeout: 30_000, connections: 4 });

  const store = config.store && createStore(config.store.redis, metrics, log);
  const { tracer } = options;
  const identityPools = new IdentityPools(metrics, store, tracer);
  const runtimeDeps = {
    ...(store && { store }),
    jwksDispatcher: jwksAgent,
    metrics,
    log,
    identityPools,
    heldBodies: new HeldBodyBudget(config.limits.maxHeldBodyBytes),
    tracer,
  };
  let runtime = new Runtime(config, runtimeDeps);
  const connections = new UpstreamConnections({
    connectTimeoutMs: config.limits.upstreamConnectTimeoutMs,
    maxConnections: config.limits.maxConnectionsPerUpstream,
    keepAliveTimeoutMs: config.limits.keepAliveTimeoutMs,
  });

  const deps = {
    state: () => runtime,
    connections,
    log,
    draining: () => lifecycle.draining,
    requests: lifecycle,
    tracer,
  };
  const handleRequest = createRequestHandler(deps);
  const forwardAuthOnMain = createForwardAuth(deps, "main");
  const handleUpgrade = createUpgradeHandler(deps);
  const { limits } = config;

  const serverOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node checks the two timeouts above; its 30 s default would let them overrun.
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  };
  const tls = config.listen.tls;
  const server: Server =
    tls === undefined
      ? createServer(serverOptions)
      : createTlsServer({ ...serverOptions, ...tlsServerOptions(tls) });
  /** Reads the TLS files of `c` again; a file that cannot be read keeps the certificates in use. */
  const reloadTls = (c: Config): void => {
    const files = c.listen.tls;
    if (files === undefined || tls === undefined) return;
    try {
      (server as TlsServer).setSecureContext(readTlsFiles(files));
      log.info("TLS certificates reloaded");
    } catch (err) {
      log.error({ err: (err as Error).message }, "TLS certificates not reloaded, the previous ones stay");
    }
  };
  let unwatchTls = tls === undefined ? () => {} : watchTlsFiles(tls, () => reloadTls(runtime.config));
  // A socket with no traffic either way for this long is closed, so a client that stops reading
  // cannot hold it forever; longer than any upstream wait, so a slow upstream still gets its 504.
  const idleTimeout = (c: Config) =>
    Math.max(
      c.limits.requestTimeoutMs,
      ...c.routes.map((r) => r.upstream.timeoutMs ?? c.limits.upstreamTimeoutMs),
    ) + 1000;
  server.timeout = idleTimeout(config);
  // Past this many open client connections new ones are closed at once: memory stays bounded
  // (every connection can also hold a request queued for a busy upstream).
  server.maxConnections = limits.maxClientConnections;
  // The exchange each connection is in, so a late parser error knows whether an answer went out.
  const exchanges = new WeakMap<object, { req: IncomingMessage; res: ServerResponse }>();
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    exchanges.set(req.socket, { req, res });
    options.beforeRequest?.(req);
    if (!forwardAuthOnMain(req, res)) handleRequest(req, res);
  };
  server.on("request", onRequest);
  // Expect: 100-continue goes through the same pipeline, which sends the 100 only once the
  // request is authorized: a refused client is told so before it uploads its body.
  server.on("checkContinue", onRequest);
  server.on("upgrade", (req, socket, head) => {
    lifecycle.trackUpgrade(socket);
    options.beforeRequest?.(req);
    handleUpgrade(req, socket, head);
  });
  // CONNECT asks for a tunnel, which cupbearer never opens (the config refuses it in methods).
  server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
    socket.on("error", () => socket.destroy());
    writeRawAnswer(socket, new Refusal("method", "CONNECT"), randomUUID());
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Nothing more can be said on a closed socket, nor once this exchange's answer has begun
    // (say, the upstream answered before the client finished sending its body).
    const exchange = exchanges.get(socket);
    const answered = exchange !== undefined && !exchange.req.complete && exchange.res.headersSent;
    if (!socket.writable || answered) return socket.destroy();
    const reason =
      err.code === "HPE_HEADER_OVERFLOW"
        ? "headers_too_large"
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "request_timeout"
          : "bad_request";
    writeRawAnswer(socket, new Refusal(reason, err.code), randomUUID());
  });

  const ready = () => runtime.verifier.ready && !lifecycle.draining;
  const admin = createAdminServer({
    registry: metrics.registry,
    ready,
    forwardAuth: createForwardAuth(deps, "admin"),
    assertionKeys: () => runtime.assertions,
  });

  async function swapIn(load: () => Promise<Config>): Promise<boolean> {
    let next: Config;
    try {
      next = await load();
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
      log.error({ problems }, "config reload refused: invalid configuration, nothing changed");
      metrics.configReloads.inc({ result: "invalid" });
      return false;
    }
    let candidate: Runtime;
    try {
      candidate = new Runtime(next, runtimeDeps);
    } catch (err) {
      // An assertion key file that cannot be read: the running config stays.
      log.error({ err: (err as Error).message }, "config reload refused: nothing changed");
      metrics.configReloads.inc({ result: "failed" });
      return false;
    }
    try {
      // The new issuers' keys are loaded before the swap, so no request meets an unready issuer.
      await candidate.loadKeysOnce();
    } catch (err) {
      candidate.stop();
      identityPools.retain(runtime.identityPools);
      log.error(
        { err: (err as Error).message },
        "config reload refused: issuer keys not loaded, nothing changed",
      );
      metrics.configReloads.inc({ result: "failed" });
      return false;
    }
    const needRestart = RESTART_ONLY.filter(
      ([, get]) => JSON.stringify(get(next)) !== JSON.stringify(get(config)),
    ).map(([key]) => key);
    if (needRestart.length > 0)
      log.warn({ keys: needRestart }, "config reload: these keys take effect only on restart");
    const previous = runtime;
    runtime = candidate;
    previous.stop();
    identityPools.retain(runtime.identityPools);
    candidate.startRefresh();
    server.timeout = idleTimeout(next);
    if (next.listen.tls !== undefined && tls !== undefined) {
      unwatchTls();
      reloadTls(next);
      unwatchTls = watchTlsFiles(next.listen.tls, () => reloadTls(runtime.config));
    }
    log.level = next.log.level;
    metrics.configReloads.inc({ result: "success" });
    log.info({ routes: next.routes.length, issuers: next.issuers.length }, "config reloaded");
    return true;
  }
  // One reload at a time, in the order asked for.
  let reloading: Promise<boolean> = Promise.resolve(true);

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
      // A moment for the shared store, so a fleet shares from its first request; never longer:
      // serving does not need it.
      if (store !== undefined && !(await store.connected(STORE_START_WAIT_MS))) {
        log.warn("shared store not connected at start: serving with local caches until it is");
      }
      const port = await listen(server, config.listen.host, config.listen.port);
      const adminPort = await listen(admin, config.admin.host, config.admin.port);
      runtime.startRefresh();
      void runtime.loadKeysPatiently();
      log.info(
        {
          port,
          adminPort,
          tls: tls !== undefined,
          routes: config.routes.length,
          issuers: config.issuers.length,
        },
        "cupbearer listening",
      );
      return { port, adminPort };
    },
    reload(load) {
      reloading = reloading.then(() => swapIn(load));
      return reloading;
    },
    async stop() {
      runtime.stop();
      unwatchTls();
      log.info({ inFlight: lifecycle.active }, "shutting down");
      await lifecycle.drain(server, runtime.config.shutdown.drainTimeoutMs);
      // Past the drain's deadline nothing is waited for: a key fetch to a hanging issuer, or an
      // admin request, would otherwise hold the stop for its own timeout (up to a minute).
      const adminClosed = new Promise<void>((resolve) => admin.close(() => resolve()));
      admin.closeAllConnections();
      identityPools.close();
      await Promise.all([connections.destroy(), jwksAgent.destroy(), store?.close(), adminClosed]);
      // The spans still batched are exported before the process goes (bounded by the exporter's timeout).
      await tracer?.shutdown().catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, "spans not exported at shutdown");
      });
      log.info("stopped");
      log.flush();
    },
  };
}
