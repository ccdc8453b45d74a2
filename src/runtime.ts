import type { Dispatcher } from "undici";
import { readSigningKeys } from "./assertions/keys.js";
import { AssertionSigner } from "./assertions/signer.js";
import { UndiciJwksFetcher } from "./auth/jwks-fetcher.js";
import { type ResolvedIssuer, resolveIssuer, TokenVerifier } from "./auth/verifier.js";
import type { IdentityPools, IdentityPoolTarget } from "./aws/pools.js";
import { isRemoteHttp } from "./config/ids-and-urls.js";
import type { Config } from "./config/types.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";
import { compileForwardAuth, type ForwardAuthEndpoint } from "./proxy/forward-auth.js";
import type { RuntimeState } from "./proxy/handler.js";
import type { HeldBodyBudget } from "./proxy/held-body.js";
import { RouteTable } from "./proxy/route-table.js";
import { SessionService } from "./sessions/service.js";
import type { RateStore } from "./store/rate-limit.js";
import type { Tracer } from "./tracing.js";

const JWKS_RETRY_MIN_MS = 500;
const JWKS_RETRY_MAX_MS = 30_000;

export interface RuntimeDeps {
  jwksDispatcher: Dispatcher;
  /** Shared across runtimes, so an unchanged pool keeps its caches through a reload. */
  identityPools: IdentityPools;
  /** Bytes of request bodies held at once, across every config. */
  heldBodies: HeldBodyBudget;
  metrics: Metrics;
  log: Logger;
  /** The fleet's shared store, when configured (process-wide: it outlives reloads). */
  store?: RateStore;
  /** Records JWKS fetches when traces are exported. */
  tracer?: Tracer | undefined;
}

/**
 * Everything one config decides at request time: routes, rules, issuers and their keys. Built
 * whole and swapped whole on reload, so a request runs on one config from start to end.
 */
export class Runtime implements RuntimeState {
  readonly routes: RouteTable;
  readonly verifier: TokenVerifier;
  readonly issuers: readonly ResolvedIssuer[];
  readonly identityPools: readonly IdentityPoolTarget[];
  readonly forwardAuth: ForwardAuthEndpoint | undefined;
  /** Signs identity assertions and publishes their keys, when `assertions` is configured. */
  readonly assertions: AssertionSigner | undefined;
  readonly sessions: SessionService | undefined;
  private refresh: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly config: Config,
    private readonly deps: RuntimeDeps,
  ) {
    const { metrics } = deps;
    this.issuers = config.issuers.map(resolveIssuer);
    const issuerByUri = new Map(this.issuers.map((i) => [i.jwksUri, i.id]));
    this.verifier = new TokenVerifier({
      issuers: this.issuers,
      fetcher: new UndiciJwksFetcher({
        timeoutMs: config.tokens.jwksTimeoutMs,
        maxBytes: config.tokens.jwksMaxBytes,
        dispatcher: deps.jwksDispatcher,
        tracer: deps.tracer,
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
    // Key files are read here: a reload reads them again, and one that cannot be read refuses it.
    const signing = config.assertions;
    this.assertions =
      signing &&
      new AssertionSigner({
        issuer: signing.issuer,
        keys: readSigningKeys(signing.keys),
        lifetimeSeconds: signing.lifetimeSeconds,
        cacheMaxEntries: signing.cacheMaxEntries,
      });
    const pools = deps.identityPools.resolve(config.identityPools);
    this.identityPools = [...pools.values()];
    this.routes = new RouteTable(config, {
      identityPools: pools,
      heldBodies: deps.heldBodies,
      metrics,
      ...(deps.store && { store: deps.store }),
      ...(this.assertions && { assertions: this.assertions }),
    });
    this.forwardAuth = compileForwardAuth(config.forwardAuth);
    this.sessions = this.#sessions(config);
  }

  /** Browser sessions against the issuer `sessions.issuer` names (checked to exist when the config was read). */
  #sessions(config: Config): SessionService | undefined {
    const { sessions } = config;
    if (sessions === undefined) return undefined;
    const issuer = this.issuers.find((i) => i.id === sessions.issuer);
    const issuerConfig = config.issuers.find((i) => i.id === sessions.issuer);
    if (issuer === undefined || issuerConfig === undefined)
      throw new Error(`sessions.issuer ${sessions.issuer} was not checked`);
    const counter = this.deps.metrics.sessionEvents;
    return new SessionService({
      config: sessions,
      issuerUrl: issuer.issuer,
      allowHttp:
        issuerConfig.allowInsecureHttp || (issuer.issuer.startsWith("http:") && !isRemoteHttp(issuer.issuer)),
      verifyIdToken: async (token) => this.verifier.verify(token),
      count: (event, result) => counter.inc({ event, result }),
    });
  }

  /** Loads every issuer's keys, retrying with back-off until it succeeds or the runtime stops. */
  async loadKeysPatiently(): Promise<void> {
    await Promise.all(
      this.issuers.map(async (issuer) => {
        let wait = JWKS_RETRY_MIN_MS;
        while (!this.stopped) {
          try {
            await this.verifier.hydrateIssuer(issuer);
            this.deps.log.info({ issuer: issuer.id }, "issuer keys loaded");
            return;
          } catch (err) {
            this.deps.log.warn(
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

  /** Loads every issuer's keys once; throws naming the first issuer that failed (for reloads). */
  async loadKeysOnce(): Promise<void> {
    await Promise.all(
      this.issuers.map((issuer) =>
        this.verifier.hydrateIssuer(issuer).catch((err: unknown) => {
          throw new Error(`issuer ${issuer.id}: ${(err as Error).message}`);
        }),
      ),
    );
  }

  /**
   * Refetches every issuer's keys every jwksRefreshSeconds, so a key the issuer withdrew stops
   * being trusted; a failed refresh keeps the keys already cached.
   */
  startRefresh(): void {
    this.refresh = setInterval(() => {
      for (const issuer of this.issuers) {
        this.verifier.hydrateIssuer(issuer).catch((err: unknown) => {
          this.deps.log.warn({ issuer: issuer.id, err: (err as Error).message }, "issuer keys not refreshed");
        });
      }
    }, this.config.tokens.jwksRefreshSeconds * 1000);
    this.refresh.unref();
  }

  /** Ends background work (retries, refreshes); requests still running on this runtime finish. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.refresh);
  }
}
