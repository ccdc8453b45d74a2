import { CognitoIdentityClient } from "@aws-sdk/client-cognito-identity";
import { STSClient } from "@aws-sdk/client-sts";
import type { IdentityPoolConfig } from "../config/types.js";
import type { Metrics } from "../metrics.js";
import type { Tracer } from "../tracing.js";
import { CredentialsProvider, type SharedCredentialsCache } from "./credentials.js";

/** Where the pools' fleet-wide caches come from (store/redis-store), when a store is configured. */
export interface SharedCredentialsSource {
  /** The cache of one identity pool; `namespace` names the pool and flow, the same on every pod. */
  credentialsCache(namespace: string): SharedCredentialsCache;
}

/** One identity pool of the config, ready for requests: its provider and its role rules. */
export interface IdentityPoolTarget {
  readonly id: string;
  readonly flow: IdentityPoolConfig["flow"];
  readonly provider: CredentialsProvider;
  readonly byGroup: Readonly<Record<string, string>>;
  /** The role of the basic flow when no group names one; undefined on the enhanced flow. */
  readonly basicFlowDefault: string | undefined;
  readonly allowGuests: boolean;
}

// The SDK retries throttling and network errors with back-off before cupbearer answers 503.
const SDK_MAX_ATTEMPTS = 3;
// Longer than any exchange can take (timeoutMs is at most 60 s per call, the calls are few).
const RETIRED_GRACE_MS = 5 * 60_000;

interface Entry {
  readonly target: IdentityPoolTarget;
  readonly close: () => void;
}

/**
 * The identity pools of the running config. A reload that leaves a pool's settings unchanged
 * keeps its provider, so identity ids and credentials survive it; a changed or removed pool gets
 * a fresh one and its old clients are closed once the new config is in place.
 */
export class IdentityPools {
  readonly #entries = new Map<string, Entry>();
  readonly #retired = new Set<Entry>();

  constructor(
    private readonly metrics: Metrics,
    private readonly shared?: SharedCredentialsSource,
    /** Records the identity-pool calls when traces are exported. */
    private readonly tracer?: Tracer,
  ) {}

  /** The targets of `configs`, by pool id, reusing providers whose settings are unchanged. */
  resolve(configs: readonly IdentityPoolConfig[]): Map<string, IdentityPoolTarget> {
    const out = new Map<string, IdentityPoolTarget>();
    for (const config of configs) {
      const key = JSON.stringify(config);
      let entry = this.#entries.get(key);
      if (entry === undefined) {
        entry = this.#build(config);
        this.#entries.set(key, entry);
      }
      out.set(config.id, entry.target);
    }
    return out;
  }

  /**
   * Drops every provider not among `inUse` (the running config's). Their clients are closed
   * after a grace period, so requests still running on the previous config finish their exchange.
   */
  retain(inUse: Iterable<IdentityPoolTarget>): void {
    const keep = new Set(inUse);
    for (const [key, entry] of this.#entries) {
      if (keep.has(entry.target)) continue;
      this.#entries.delete(key);
      this.#retired.add(entry);
      setTimeout(() => {
        if (this.#retired.delete(entry)) entry.close();
      }, RETIRED_GRACE_MS).unref();
    }
  }

  /** Closes every client now, retired ones included (shutdown). */
  close(): void {
    this.retain([]);
    for (const entry of this.#retired) entry.close();
    this.#retired.clear();
  }

  #build(config: IdentityPoolConfig): Entry {
    const { metrics } = this;
    const labels = { pool: config.id, flow: config.flow };
    // Bound once: a hit is counted on every signed request, and labels() hashes its arguments.
    const bind = (counter: Metrics["credentialCacheHits"]) => ({
      identity: counter.labels({ pool: config.id, cache: "identity" }),
      credentials: counter.labels({ pool: config.id, cache: "credentials" }),
    });
    const hits = bind(metrics.credentialCacheHits);
    const misses = bind(metrics.credentialCacheMisses);
    const clientConfig = {
      region: config.region,
      maxAttempts: SDK_MAX_ATTEMPTS,
      ...(config.endpoint !== undefined && { endpoint: config.endpoint }),
    };
    const identity = new CognitoIdentityClient(clientConfig);
    const sts = config.flow === "basic" ? new STSClient(clientConfig) : undefined;
    const provider = new CredentialsProvider({
      identityPoolId: config.identityPoolId,
      region: config.region,
      client: identity,
      flow: config.flow,
      ...(sts !== undefined && { sts }),
      now: Date.now,
      timeoutMs: config.timeoutMs,
      maxIdentities: config.cacheMaxEntries,
      maxCredentials: config.cacheMaxEntries,
      ...(this.shared && { shared: this.shared.credentialsCache(`${config.identityPoolId}|${config.flow}`) }),
      tracer: this.tracer,
      metrics: {
        onExchange: (result, seconds) => {
          metrics.credentialExchanges.inc({ ...labels, result });
          metrics.credentialExchangeDuration.observe(labels, seconds);
        },
        onCacheHit: (cache) => hits[cache].inc(),
        onCacheMiss: (cache) => misses[cache].inc(),
      },
    });
    return {
      target: {
        id: config.id,
        flow: config.flow,
        provider,
        byGroup: config.roles.byGroup,
        basicFlowDefault: config.roles.basicFlowDefault,
        allowGuests: config.allowGuests,
      },
      close: () => {
        identity.destroy();
        sts?.destroy();
      },
    };
  }
}

/** What `standaloneProvider` needs: one identity pool, outside any config. */
export interface StandalonePoolProps {
  readonly identityPoolId: string;
  readonly region: string;
  readonly endpoint?: string | undefined;
  readonly timeoutMs?: number;
}

/**
 * A provider for one identity pool with the proxy's client settings (retries, timeout), for
 * `cupbearer aws-credentials`: the same exchange as the AWS routes, without metrics. The
 * enhanced flow; `close()` destroys its client.
 */
export function standaloneProvider(props: StandalonePoolProps): {
  provider: CredentialsProvider;
  close(): void;
} {
  const identity = new CognitoIdentityClient({
    region: props.region,
    maxAttempts: SDK_MAX_ATTEMPTS,
    ...(props.endpoint !== undefined && { endpoint: props.endpoint }),
  });
  const provider = new CredentialsProvider({
    identityPoolId: props.identityPoolId,
    region: props.region,
    client: identity,
    now: Date.now,
    ...(props.timeoutMs !== undefined && { timeoutMs: props.timeoutMs }),
  });
  return { provider, close: () => identity.destroy() };
}
