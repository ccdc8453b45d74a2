/**
 * Per-caller rate limits of one route, by GCRA (the generic cell rate algorithm: one timestamp
 * per caller, the "theoretical arrival time", no background refill): fleet-wide through the
 * shared store when one is configured (one atomic script per check), per pod otherwise, and per
 * pod again whenever the store does not answer, so an outage never refuses everyone.
 */
import { LRUCache } from "lru-cache";
import type { Identity } from "../core/identity.js";
import { Refusal } from "../errors.js";
import type { StoreRateDecision } from "./redis-store.js";

/** `routes[].rateLimit.perCaller`, with the burst resolved. */
export interface RateRule {
  readonly requests: number;
  readonly perSeconds: number;
  readonly burst: number;
}

/** The store's side of a check (RedisStore.rateLimit). */
export interface RateStore {
  rateLimit(
    route: string,
    caller: string,
    intervalMs: number,
    burst: number,
  ): Promise<StoreRateDecision | undefined>;
}

export interface CallerRateLimiterProps {
  readonly route: string;
  readonly rule: RateRule;
  /** Fleet-wide counters; without it the limit is per pod. */
  readonly store?: RateStore;
  /** Most callers remembered per pod (default 100,000): the least recent are forgotten. */
  readonly maxCallers?: number;
  /** Milliseconds, monotonic; `performance.now` in production. */
  readonly now?: () => number;
  /** Called on every refusal (metrics). */
  readonly onLimited?: () => void;
}

/** A bounded in-process GCRA: the per-pod limit, and the fallback of the fleet-wide one. */
export class LocalRate {
  readonly #tats: LRUCache<string, number>;

  constructor(
    private readonly intervalMs: number,
    private readonly burst: number,
    maxCallers: number,
    private readonly now: () => number,
  ) {
    this.#tats = new LRUCache({ max: Math.max(1, maxCallers) });
  }

  /** One step for `caller`: allowed, or refused with the wait until the next request fits. */
  take(caller: string): StoreRateDecision {
    const now = this.now();
    // From the wait still owed, not (tat + interval) - now: for a caller with nothing owed that
    // sum can round above interval × burst, refusing a first request when burst is 1.
    const owed = Math.max((this.#tats.get(caller) ?? now) - now, 0);
    const ahead = owed + this.intervalMs;
    const limit = this.intervalMs * this.burst;
    if (ahead > limit) return { allowed: false, retryAfterMs: Math.ceil(ahead - limit) };
    this.#tats.set(caller, now + ahead);
    return { allowed: true, retryAfterMs: 0 };
  }
}

/**
 * Who a caller is, for its budget: a verified token's issuer and subject, else the client's
 * address (callers without a token share their address's budget).
 */
export function callerKey(identity: Identity | undefined, address: string | undefined): string {
  if (identity !== undefined) return `u ${String(identity.claims.iss)} ${identity.subject}`;
  return `a ${address ?? "unknown"}`;
}

/** One route's per-caller limit. */
export class CallerRateLimiter {
  readonly #route: string;
  readonly #intervalMs: number;
  readonly #burst: number;
  readonly #store: RateStore | undefined;
  readonly #local: LocalRate;
  readonly #onLimited: () => void;

  constructor(props: CallerRateLimiterProps) {
    const { requests, perSeconds, burst } = props.rule;
    if (!(requests >= 1 && perSeconds > 0 && burst >= 1)) {
      throw new RangeError("a rate limit needs requests >= 1, perSeconds > 0 and burst >= 1");
    }
    this.#route = props.route;
    this.#intervalMs = (perSeconds * 1000) / requests;
    this.#burst = burst;
    this.#store = props.store;
    this.#local = new LocalRate(
      this.#intervalMs,
      burst,
      props.maxCallers ?? 100_000,
      props.now ?? (() => performance.now()),
    );
    this.#onLimited = props.onLimited ?? (() => {});
  }

  /**
   * Takes one request from the caller's budget: returns (or resolves) when it fits, throws (or
   * rejects with) a `rate_limited` Refusal carrying Retry-After when it does not. Synchronous
   * without a store.
   */
  admit(identity: Identity | undefined, address: string | undefined): void | Promise<void> {
    const caller = callerKey(identity, address);
    if (this.#store === undefined) return this.#settle(this.#local.take(caller));
    return this.#store
      .rateLimit(this.#route, caller, this.#intervalMs, this.#burst)
      .then((decision) => this.#settle(decision ?? this.#local.take(caller)));
  }

  #settle(decision: StoreRateDecision): void {
    if (decision.allowed) return;
    this.#onLimited();
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new Refusal("rate_limited", `over the per-caller limit of ${this.#route}`, seconds);
  }
}
