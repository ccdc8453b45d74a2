/**
 * The store a fleet of cupbearers shares (Redis or Valkey through ioredis: one server, a primary
 * found through Sentinel, or a Cluster; see redis-client.ts): identity ids and
 * credentials so a user costs one GetId and one exchange per fleet instead of one per pod, a
 * fleet-wide single flight, and the counters of per-caller rate limits.
 *
 * The store is never on the availability path: every call is bounded (`timeoutMs`, and no
 * offline queue: a call made while the connection is down fails at once), a failure reads as a
 * miss or as "go ahead alone", and whether the store works is logged once per change of state.
 * Every record is sealed (sealed-record.ts) with its own key as associated data.
 */
import { createHash, randomUUID } from "node:crypto";
import type { SharedCredentialsCache, TemporaryCredentials } from "../aws/credentials.js";
import { createStoreClient, type RedisWhere, type StoreClient } from "./redis-client.js";
import { SealedRecords } from "./sealed-record.js";

/** What one store call did, as a bounded label set. */
export type StoreOp =
  | "get_identity"
  | "put_identity"
  | "get_credentials"
  | "put_credentials"
  | "lock"
  | "unlock"
  | "rate_limit";

/**
 * `hit`/`miss`: a read found a value or not; `ok`: a write or check went through; `held`: the lock
 * belongs to another pod; `rejected`: a value failed to open (another key's record, an unknown
 * encryption key, a changed byte): it is ignored; `error`: the store did not answer in time or at all.
 */
export type StoreResult = "hit" | "miss" | "ok" | "held" | "rejected" | "error";

/** Observers, so the store needs no metrics library or logger of its own. */
export interface StoreObserver {
  operation?(op: StoreOp, result: StoreResult, seconds: number): void;
  /** Called once per change: false when the store stops answering, true when it answers again. */
  stateChange?(up: boolean, detail: string): void;
}

/** Where the store is (exactly one of `url`, `sentinel`, `cluster`) and how it is used. */
export interface RedisStoreOptions extends RedisWhere {
  /** Prefix of every key written (default `cupbearer:`). */
  readonly keyPrefix?: string;
  /** Base64 AES-256 keys, newest first: the first seals, all open. */
  readonly encryptionKeys: readonly string[];
  /** Longest time one store call may take (default 250 ms). */
  readonly timeoutMs?: number;
  /** Longest wait for another pod's exchange before going on alone (default 3,000 ms). */
  readonly lockWaitMs?: number;
  /** How long an identity id is kept (default 30 days): Cognito never changes it. */
  readonly identityTtlSeconds?: number;
  readonly observer?: StoreObserver;
}

/** Answer of a rate-limit check done in the store. */
export interface StoreRateDecision {
  readonly allowed: boolean;
  /** When refused: milliseconds until one more request would be allowed. */
  readonly retryAfterMs: number;
}

const POLL_MS = 25;

// Compare-and-delete: a pod releases only the lock it holds, never one a later pod took over.
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

// GCRA (the generic cell rate algorithm), one atomic step per request, on the store's clock so
// every pod agrees on "now". KEYS[1]: the caller's theoretical arrival time (ms, text).
// ARGV[1]: ms between requests; ARGV[2]: the burst (requests allowed at once).
// Answers {1, 0} when allowed, {0, ms to wait} when refused.
const GCRA = `
local interval = tonumber(ARGV[1])
local limit = interval * tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local owed = (tonumber(redis.call('GET', KEYS[1]) or '0') or 0) - now
if owed < 0 then owed = 0 end
local ahead = owed + interval
if ahead > limit then return {0, math.ceil(ahead - limit)} end
redis.call('SET', KEYS[1], string.format('%.3f', now + ahead), 'PX', math.ceil(ahead))
return {1, 0}
`;

type Commands = StoreClient & {
  cupbearerUnlock(key: string, token: string): Promise<number>;
  cupbearerGcra(key: string, intervalMs: string, burst: string): Promise<[number, number]>;
};

function hashed(...parts: string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(`${p.length}:${p}`);
  return h.digest("base64url");
}

/** A shared store on Redis or Valkey. */
export class RedisStore {
  readonly #client: Commands;
  readonly #sealed: SealedRecords;
  readonly #prefix: string;
  readonly #lockWaitMs: number;
  readonly #timeoutMs: number;
  readonly #identityTtlSeconds: number;
  readonly #observer: StoreObserver;
  // Unknown until the first call or connection: the first failure is then logged, and a store
  // that works from the start is not announced as "back".
  #up: boolean | undefined;

  constructor(options: RedisStoreOptions) {
    this.#sealed = new SealedRecords(options.encryptionKeys);
    this.#prefix = options.keyPrefix ?? "cupbearer:";
    const timeoutMs = options.timeoutMs ?? 250;
    this.#lockWaitMs = options.lockWaitMs ?? 3_000;
    this.#identityTtlSeconds = options.identityTtlSeconds ?? 30 * 86_400;
    this.#observer = options.observer ?? {};
    this.#timeoutMs = timeoutMs;
    const client = createStoreClient(options, timeoutMs);
    client.defineCommand("cupbearerUnlock", { numberOfKeys: 1, lua: UNLOCK });
    client.defineCommand("cupbearerGcra", { numberOfKeys: 1, lua: GCRA });
    // Without a listener ioredis prints every connection error; the state change says it once.
    client.on("error", (err: Error) => this.#state(false, err.message));
    client.on("ready", () => this.#state(true, "connected"));
    this.#client = client as Commands;
  }

  /** True while the last call or connection event went through. */
  get up(): boolean {
    return this.#up === true;
  }

  /**
   * Resolves true once connected, or false after `waitMs`: start-up may wait a moment for the
   * store, never for long (the store is not needed to serve).
   */
  async connected(waitMs: number): Promise<boolean> {
    if (this.#client.status === "ready") return true;
    let timer: NodeJS.Timeout | undefined;
    let onReady: (() => void) | undefined;
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => {
        onReady = () => resolve(true);
        this.#client.once("ready", onReady);
      }),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), waitMs);
      }),
    ]);
    clearTimeout(timer);
    if (onReady) this.#client.off("ready", onReady);
    return ready;
  }

  /** The shared cache of one identity pool; `namespace` tells pools apart (their pool id and flow). */
  credentialsCache(namespace: string): SharedCredentialsCache {
    return new PoolCache(this, namespace);
  }

  /**
   * One step of the caller's budget, atomic in the store; undefined when the store did not
   * answer (the caller falls back to a per-pod limit).
   */
  async rateLimit(
    route: string,
    caller: string,
    intervalMs: number,
    burst: number,
  ): Promise<StoreRateDecision | undefined> {
    const key = `${this.#prefix}rl:${hashed(route, caller)}`;
    const answer = await this.#call("rate_limit", () =>
      this.#client.cupbearerGcra(key, intervalMs.toFixed(3), String(burst)),
    );
    if (answer === undefined) return undefined;
    const [allowed, wait] = answer;
    this.#observe("rate_limit", "ok");
    return { allowed: allowed === 1, retryAfterMs: Number(wait) };
  }

  /** Closes the connection; later calls fail at once (and read as misses). */
  async close(): Promise<void> {
    this.#client.removeAllListeners("ready");
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  // ---- used by PoolCache ------------------------------------------------------------------

  /** @internal The store key of one record. */
  keyOf(kind: "id" | "cr" | "lk", namespace: string, key: string): string {
    return `${this.#prefix}${kind}:${hashed(namespace, key)}`;
  }

  /** @internal A sealed read: the plaintext, or undefined (missing, unopenable, or an error). */
  async read(op: StoreOp, key: string): Promise<string | undefined> {
    const started = performance.now();
    const value = await this.#call(op, () => this.#client.get(key), started);
    if (value === undefined) return undefined;
    if (value === null) return this.#observe(op, "miss", started);
    const plain = this.#sealed.open(key, value);
    this.#observe(op, plain === undefined ? "rejected" : "hit", started);
    return plain;
  }

  /** @internal A sealed write that expires after `ttlMs`. */
  async write(op: StoreOp, key: string, plaintext: string, ttlMs: number): Promise<void> {
    const started = performance.now();
    const sealed = this.#sealed.seal(key, plaintext);
    const done = await this.#call(
      op,
      () => this.#client.set(key, sealed, "PX", Math.max(1, Math.floor(ttlMs))),
      started,
    );
    if (done !== undefined) this.#observe(op, "ok", started);
  }

  /** @internal Deletes a record. */
  async remove(op: StoreOp, key: string): Promise<void> {
    const started = performance.now();
    const done = await this.#call(op, () => this.#client.del(key), started);
    if (done !== undefined) this.#observe(op, "ok", started);
  }

  /** @internal "acquired", "held" by another pod, or "error" (the store did not answer). */
  async lock(key: string, token: string): Promise<"acquired" | "held" | "error"> {
    const started = performance.now();
    const answer = await this.#call(
      "lock",
      () => this.#client.set(key, token, "PX", this.#lockWaitMs, "NX"),
      started,
    );
    if (answer === undefined) return "error";
    this.#observe("lock", answer === "OK" ? "ok" : "held", started);
    return answer === "OK" ? "acquired" : "held";
  }

  /** @internal Releases a lock this pod holds. */
  async unlock(key: string, token: string): Promise<void> {
    const started = performance.now();
    const done = await this.#call("unlock", () => this.#client.cupbearerUnlock(key, token), started);
    if (done !== undefined) this.#observe("unlock", "ok", started);
  }

  /** @internal */
  get lockWaitMs(): number {
    return this.#lockWaitMs;
  }

  /** @internal */
  get identityTtlMs(): number {
    return this.#identityTtlSeconds * 1000;
  }

  /** Runs one command; its answer, or undefined after counting and noting the failure. */
  async #call<T>(op: StoreOp, run: () => Promise<T>, started = performance.now()): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const pending = run();
      // The client bounds each command, but a Cluster may retry one through redirections and
      // failovers: the call as a whole is bounded here. A late answer is ignored (a lock taken
      // late expires after lockWaitMs like any other).
      pending.catch(() => {});
      const answer = await Promise.race([
        pending,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("store call timed out")), this.#timeoutMs);
        }),
      ]);
      this.#state(true, "answering");
      return answer;
    } catch (err) {
      this.#observe(op, "error", started);
      this.#state(false, (err as Error).message);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  #observe(op: StoreOp, result: StoreResult, started?: number): undefined {
    const seconds = started === undefined ? 0 : (performance.now() - started) / 1000;
    this.#observer.operation?.(op, result, seconds);
    return undefined;
  }

  #state(up: boolean, detail: string): void {
    if (this.#up === up || (this.#up === undefined && up)) {
      this.#up = up;
      return;
    }
    this.#up = up;
    this.#observer.stateChange?.(up, detail);
  }
}

/** The credentials record as stored (sealed): short names, no field left out. */
interface CredentialsRecord {
  a: string;
  s: string;
  t: string;
  e: number;
  i: string;
}

/** One identity pool's view of the store. */
class PoolCache implements SharedCredentialsCache {
  constructor(
    private readonly store: RedisStore,
    private readonly namespace: string,
  ) {}

  identity(userKey: string): Promise<string | undefined> {
    return this.store.read("get_identity", this.store.keyOf("id", this.namespace, userKey));
  }

  saveIdentity(userKey: string, identityId: string): Promise<void> {
    const key = this.store.keyOf("id", this.namespace, userKey);
    return this.store.write("put_identity", key, identityId, this.store.identityTtlMs);
  }

  forgetIdentity(userKey: string): Promise<void> {
    return this.store.remove("put_identity", this.store.keyOf("id", this.namespace, userKey));
  }

  async credentials(key: string, identityId: string): Promise<TemporaryCredentials | undefined> {
    const text = await this.store.read("get_credentials", this.store.keyOf("cr", this.namespace, key));
    if (text === undefined) return undefined;
    try {
      const r = JSON.parse(text) as CredentialsRecord;
      // The key already binds the record to its identity (associated data); checked again.
      if (r.i !== identityId || typeof r.e !== "number") return undefined;
      return { accessKeyId: r.a, secretAccessKey: r.s, sessionToken: r.t, expiresAt: r.e, identityId: r.i };
    } catch {
      return undefined;
    }
  }

  saveCredentials(key: string, c: TemporaryCredentials, ttlMs: number): Promise<void> {
    const record: CredentialsRecord = {
      a: c.accessKeyId,
      s: c.secretAccessKey,
      t: c.sessionToken,
      e: c.expiresAt,
      i: c.identityId,
    };
    return this.store.write(
      "put_credentials",
      this.store.keyOf("cr", this.namespace, key),
      JSON.stringify(record),
      ttlMs,
    );
  }

  async singleFlight<T>(
    key: string,
    check: () => Promise<T | undefined>,
    produce: () => Promise<T>,
  ): Promise<T> {
    const lockKey = this.store.keyOf("lk", this.namespace, key);
    const token = randomUUID();
    const deadline = performance.now() + this.store.lockWaitMs;
    for (;;) {
      const lock = await this.store.lock(lockKey, token);
      if (lock === "acquired") {
        try {
          // Another pod may have finished between our miss and our lock.
          return (await check()) ?? (await produce());
        } finally {
          void this.store.unlock(lockKey, token);
        }
      }
      // The store is down: no fleet to coordinate with, go on alone.
      if (lock === "error") return produce();
      await new Promise((r) => setTimeout(r, POLL_MS));
      const found = await check();
      if (found !== undefined) return found;
      // Waited long enough for another pod: go on alone rather than fail or wait on.
      if (performance.now() >= deadline) return produce();
    }
  }
}
