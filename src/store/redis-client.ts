/**
 * The ioredis client of the shared store, in one of three topologies: one server (a URL, also a
 * managed service's primary endpoint), a primary found through Redis Sentinel, or a Redis
 * Cluster. Whatever the topology, the same safety settings: no offline queue (a call while
 * disconnected fails at once), no retry of a failed command, bounded command and connect times,
 * reconnection in the background with a bounded back-off.
 *
 * Every command the store sends names one key (GET, SET, DEL and two one-key scripts), so on a
 * Cluster each goes to the node of its key's slot and no hash tags are needed.
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { type HostPort, parseHostPort } from "../core/host-port.js";

/** A primary found through Sentinels (`store.redis.sentinel`). */
export interface SentinelConnection {
  readonly name: string;
  /** `host:port` of each Sentinel. */
  readonly sentinels: readonly string[];
  readonly username?: string;
  readonly password?: string;
  readonly sentinelUsername?: string;
  readonly sentinelPassword?: string;
  /** TLS to the Redis servers. */
  readonly tls?: boolean;
  /** TLS to the Sentinels. */
  readonly sentinelTls?: boolean;
}

/** A Redis Cluster (`store.redis.cluster`). */
export interface ClusterConnection {
  /** `host:port` of some of its nodes: the others are learnt from them. */
  readonly nodes: readonly string[];
  readonly username?: string;
  readonly password?: string;
  readonly tls?: boolean;
}

/** Where the store is: exactly one of the three. */
export interface RedisWhere {
  /** `redis://` or `rediss://` (TLS), with user, password and database number if any. */
  readonly url?: string;
  readonly sentinel?: SentinelConnection;
  readonly cluster?: ClusterConnection;
}

/** What the store uses of a client: the same on one server, through Sentinel and on a Cluster. */
export type StoreClient = Pick<Redis, "get" | "set" | "del" | "quit" | "disconnect" | "defineCommand"> & {
  /** `ready` once connected (on a Cluster: once its slots are known and it answers). */
  readonly status: string;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "ready", listener: () => void): unknown;
  once(event: "ready", listener: () => void): unknown;
  off(event: "ready", listener: () => void): unknown;
  removeAllListeners(event: "ready"): unknown;
};

/** Reconnection back-off: 200 ms doubling to 2 s, forever (the store may come back at any time). */
const backoff = (times: number): number => Math.min(100 * 2 ** Math.min(times, 5), 2_000);

// After a failover a connection may still reach the demoted primary: writes answer READONLY.
// Reconnecting finds the new primary (through the Sentinels, or the endpoint's DNS).
const reconnectOnReadOnly = (err: Error): boolean => err.message.startsWith("READONLY");

// An empty user name or password (an unset `${VAR:-}`) means none.
const given = (v: string | undefined): string | undefined => (v === undefined || v === "" ? undefined : v);

function addresses(list: readonly string[], what: string): HostPort[] {
  if (list.length === 0) throw new RangeError(`the store needs at least one ${what}`);
  return list.map((a) => {
    const parsed = parseHostPort(a);
    if (parsed === undefined) throw new RangeError(`a store ${what} must be host:port`);
    return parsed;
  });
}

/** Checks `where` (exactly one topology, well-formed addresses) and makes its client. */
export function createStoreClient(where: RedisWhere, timeoutMs: number): StoreClient {
  const set = [where.url, where.sentinel, where.cluster].filter((x) => x !== undefined).length;
  if (set !== 1) throw new RangeError("the store needs exactly one of url, sentinel or cluster");
  const common = {
    maxRetriesPerRequest: 0,
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(timeoutMs, 1_000),
    reconnectOnError: reconnectOnReadOnly,
  } satisfies RedisOptions;

  if (where.cluster !== undefined) {
    const c = where.cluster;
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      clusterRetryStrategy: backoff,
      slotsRefreshTimeout: Math.max(timeoutMs, 1_000),
      // ioredis would resolve a name to an address and lose it for TLS's name check (managed
      // services' configuration endpoints): hand the name to the socket as it is.
      dnsLookup: (address, callback) => callback(null, address),
      redisOptions: {
        ...common,
        username: given(c.username),
        password: given(c.password),
        ...(c.tls === true && { tls: {} }),
      },
    };
    return new Cluster(addresses(c.nodes, "cluster node"), options);
  }

  const base = { ...common, enableOfflineQueue: false, retryStrategy: backoff, lazyConnect: false };
  if (where.sentinel !== undefined) {
    const s = where.sentinel;
    return new Redis({
      ...base,
      name: s.name,
      sentinels: addresses(s.sentinels, "Sentinel"),
      username: given(s.username),
      password: given(s.password),
      sentinelUsername: given(s.sentinelUsername),
      sentinelPassword: given(s.sentinelPassword),
      ...(s.tls === true && { tls: {}, enableTLSForSentinelMode: true }),
      ...(s.sentinelTls === true && { sentinelTLS: {} }),
      sentinelRetryStrategy: backoff,
      sentinelCommandTimeout: Math.max(timeoutMs, 1_000),
      // No failoverDetector: it keeps a subscription to every Sentinel, reconnecting forever and
      // printing each error of an unreachable one. A failover reaches the client anyway: the
      // Sentinels close the old primary's connections when they demote it (and a write to it
      // answers READONLY), and the client then asks the Sentinels for the new one.
    });
  }

  const url = where.url as string;
  const { protocol } = new URL(url);
  if (protocol !== "redis:" && protocol !== "rediss:") {
    throw new RangeError("the store URL must start with redis:// or rediss://");
  }
  return new Redis(url, base);
}
