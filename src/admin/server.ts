import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";

/** What the admin listener publishes of the assertion keys (assertions/signer.ts). */
export interface PublishedKeys {
  jwks(): Promise<{ keys: object[] }>;
  pem(kid: string): Promise<string | undefined>;
}

/**
 * How long verifiers may cache the published keys. Short enough that a key withdrawn after a
 * leak stops being trusted within minutes; rotation publishes the next key this long before it signs.
 */
export const KEYS_MAX_AGE_SECONDS = 300;
const KEYS_CACHE_CONTROL = `public, max-age=${KEYS_MAX_AGE_SECONDS}`;
const JWKS_PATH = "/.well-known/jwks.json";
const ALB_KEYS_PREFIX = "/.well-known/alb-keys/";

export interface AdminDeps {
  registry: Registry;
  /** Ready to take traffic: every issuer's keys loaded and not shutting down. */
  ready: () => boolean;
  /** Takes the forward-auth endpoint's requests when it is served here (returns true). */
  forwardAuth?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** The current config's assertion keys, when `assertions` is configured. */
  assertionKeys?: () => PublishedKeys | undefined;
}

/**
 * The admin listener's own bounds, whatever the proxy's limits: its clients are probes and a
 * scraper, so a few connections and short timeouts are plenty, and a client that opens many or
 * sends slowly cannot hold it (nor the memory of the process that also serves the proxy).
 */
export const ADMIN_LIMITS = {
  maxConnections: 32,
  maxHeaderBytes: 8192,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5000,
  /** A socket idle both ways this long is closed. */
  idleTimeoutMs: 30_000,
} as const;

/**
 * /healthz (the process answers), /readyz (it should get traffic) and /metrics, on their own port;
 * the assertion keys (`/.well-known/jwks.json`, and `/.well-known/alb-keys/<kid>` as PEM, the way
 * ALB clients fetch them); and the forward-auth endpoint when `forwardAuth.listener` is `admin`.
 */
export function createAdminServer(deps: AdminDeps): Server {
  const server = createServer({
    maxHeaderSize: ADMIN_LIMITS.maxHeaderBytes,
    headersTimeout: ADMIN_LIMITS.headersTimeoutMs,
    requestTimeout: ADMIN_LIMITS.requestTimeoutMs,
    keepAliveTimeout: ADMIN_LIMITS.keepAliveTimeoutMs,
    connectionsCheckingInterval: 1000,
  });
  server.maxConnections = ADMIN_LIMITS.maxConnections;
  server.timeout = ADMIN_LIMITS.idleTimeoutMs;
  return server.on("request", (req, res) => {
    if (deps.forwardAuth?.(req, res)) return;
    const path = (req.url ?? "/").split("?", 1)[0];
    const json = (status: number, body: object) =>
      res
        .writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
        .end(JSON.stringify(body));
    if (req.method !== "GET" && req.method !== "HEAD") return json(405, { error: "method_not_allowed" });
    if (path === "/healthz") return json(200, { status: "ok" });
    if (path === "/readyz")
      return deps.ready() ? json(200, { status: "ready" }) : json(503, { status: "not ready" });
    if (path === "/metrics") {
      deps.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": deps.registry.contentType }).end(text),
        () => json(500, { error: "metrics_unavailable" }),
      );
      return;
    }
    const keys = deps.assertionKeys?.();
    if (keys !== undefined && (path === JWKS_PATH || path?.startsWith(ALB_KEYS_PREFIX))) {
      publishKeys(keys, path, res).catch(() => json(500, { error: "keys_unavailable" }));
      return;
    }
    json(404, { error: "not_found" });
  });
}

async function publishKeys(keys: PublishedKeys, path: string, res: ServerResponse): Promise<void> {
  if (path === JWKS_PATH) {
    const body = JSON.stringify(await keys.jwks());
    res.writeHead(200, { "content-type": "application/json", "cache-control": KEYS_CACHE_CONTROL }).end(body);
    return;
  }
  const pem = await keys.pem(path.slice(ALB_KEYS_PREFIX.length));
  if (pem === undefined) {
    res
      .writeHead(404, { "content-type": "application/json", "cache-control": "no-store" })
      .end(JSON.stringify({ error: "not_found" }));
    return;
  }
  res
    .writeHead(200, { "content-type": "application/x-pem-file", "cache-control": KEYS_CACHE_CONTROL })
    .end(pem);
}
