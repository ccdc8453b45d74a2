import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";
import { BoundCounter, BoundHistogram, type CounterChild, type HistogramChild } from "./bound-metrics.js";

/**
 * Every metric cupbearer exports, declared once. Labels are bounded: route and issuer ids from the
 * config and reasons from a fixed list, never raw paths or anything a client chooses.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  return {
    registry,
    // Those touched by every request (and every signed one): bound once (see bound-metrics.ts).
    requests: new BoundCounter(
      "cupbearer_requests_total",
      "Requests answered, by route, method and status.",
      ["route", "method", "status"],
      registry,
    ),
    requestDuration: new BoundHistogram(
      "cupbearer_request_duration_seconds",
      "Time from request to response headers, by route.",
      ["route"],
      buckets,
      registry,
    ),
    upstreamDuration: new BoundHistogram(
      "cupbearer_upstream_duration_seconds",
      "Time the upstream took to send response headers, by route.",
      ["route"],
      buckets,
      registry,
    ),
    authFailures: new Counter({
      name: "cupbearer_auth_failures_total",
      help: "Requests refused before reaching the upstream, by route and reason.",
      labelNames: ["route", "reason"] as const,
      registers: [registry],
    }),
    jwksFetches: new Counter({
      name: "cupbearer_jwks_fetches_total",
      help: "JWKS fetches, by issuer and result.",
      labelNames: ["issuer", "result"] as const,
      registers: [registry],
    }),
    configReloads: new Counter({
      name: "cupbearer_config_reloads_total",
      help: "Config reloads, by result: success, invalid (the file) or failed (issuer keys not loaded).",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
    credentialExchanges: new Counter({
      name: "cupbearer_credential_exchanges_total",
      help: "Exchanges of a token for AWS credentials at an identity pool, by pool, flow and result.",
      labelNames: ["pool", "flow", "result"] as const,
      registers: [registry],
    }),
    credentialExchangeDuration: new Histogram({
      name: "cupbearer_credential_exchange_duration_seconds",
      help: "Time one exchange at an identity pool took (all its AWS calls), by pool and flow.",
      labelNames: ["pool", "flow"] as const,
      buckets,
      registers: [registry],
    }),
    credentialCacheHits: new BoundCounter(
      "cupbearer_credential_cache_hits_total",
      "Identity ids and AWS credentials found in cupbearer's caches, by pool and cache.",
      ["pool", "cache"],
      registry,
    ),
    credentialCacheMisses: new BoundCounter(
      "cupbearer_credential_cache_misses_total",
      "Identity ids and AWS credentials not in cupbearer's caches, by pool and cache.",
      ["pool", "cache"],
      registry,
    ),
    signedRequests: new BoundCounter(
      "cupbearer_signed_requests_total",
      "Requests signed with SigV4 and sent to an AWS upstream, by route and service.",
      ["route", "service"],
      registry,
    ),
    storeOperations: new Counter({
      name: "cupbearer_store_operations_total",
      help: "Calls to the shared store, by operation and result (hit, miss, ok, held, rejected, error).",
      labelNames: ["op", "result"] as const,
      registers: [registry],
    }),
    storeDuration: new Histogram({
      name: "cupbearer_store_duration_seconds",
      help: "Time one call to the shared store took, by operation.",
      labelNames: ["op"] as const,
      buckets,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: "cupbearer_rate_limited_total",
      help: "Requests refused with 429 for going over a route's per-caller limit, by route.",
      labelNames: ["route"] as const,
      registers: [registry],
    }),
    sessionEvents: new Counter({
      name: "cupbearer_session_events_total",
      help: "Browser sessions: sign-ins, refreshes and sign-outs (event), by outcome (result).",
      labelNames: ["event", "result"] as const,
      registers: [registry],
    }),
    tokenCacheHits: new Counter({
      name: "cupbearer_token_cache_hits_total",
      help: "Tokens found in the verified-token cache.",
      registers: [registry],
    }),
    tokenCacheMisses: new Counter({
      name: "cupbearer_token_cache_misses_total",
      help: "Tokens not in the verified-token cache, so verified in full.",
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Methods outside this list are counted as OTHER, so a client cannot grow the label set. */
const KNOWN_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "CONNECT",
  "TRACE",
]);
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : "OTHER";
}

type FailureChild = ReturnType<Metrics["authFailures"]["labels"]>;

/** One route's metric children, bound once: the request path never hashes a label. */
export class RouteMetrics {
  readonly requestDuration: HistogramChild;
  readonly upstreamDuration: HistogramChild;
  readonly #requests = new Map<string, CounterChild>();
  readonly #failures = new Map<string, FailureChild>();

  constructor(
    private readonly metrics: Metrics,
    readonly route: string,
  ) {
    this.requestDuration = metrics.requestDuration.labels({ route });
    this.upstreamDuration = metrics.upstreamDuration.labels({ route });
  }

  /** Counts one answered request; `method` must already be a bounded label (methodLabel). */
  request(method: string, status: number): void {
    const key = `${method} ${status}`;
    let child = this.#requests.get(key);
    if (child === undefined) {
      child = this.metrics.requests.labels({ route: this.route, method, status: String(status) });
      this.#requests.set(key, child);
    }
    child.inc();
  }

  authFailure(reason: string): void {
    let child = this.#failures.get(reason);
    if (child === undefined) {
      child = this.metrics.authFailures.labels({ route: this.route, reason });
      this.#failures.set(reason, child);
    }
    child.inc();
  }
}
