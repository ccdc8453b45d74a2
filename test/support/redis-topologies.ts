/**
 * Real Redis topologies for the store's tests, on free ports of 127.0.0.1, each in its own temp
 * folder, everything killed and removed at teardown:
 * - Sentinel: a primary, one replica and one Sentinel watching them (`SENTINEL FAILOVER` plays a
 *   failover in a second or two);
 * - Cluster: three primaries without replicas (`redis-cli --cluster create`), a node of which can
 *   be killed and started again on the same port with its cluster state.
 * Both ask for passwords, so the store's credentials are exercised too.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "tap";
import { EmulatorUnavailableError, freePorts } from "../../demo/cognito-emulator.js";
import { withEmulator } from "./emulators.js";
import { findOnPath } from "./moto.js";
import { send } from "./redis.js";
import { waitFor } from "./wait.js";

/** The password of every Redis server here; Sentinels have their own. */
export const REDIS_PASSWORD = "redis-pass";
export const SENTINEL_PASSWORD = "sentinel-pass";
export const MASTER_NAME = "cupbearer-test";

/** One redis-server process with its config file, restartable on the same port and folder. */
class Server {
  #child: ChildProcess | undefined;
  constructor(
    private readonly bin: string,
    readonly port: number,
    private readonly conf: string,
    private readonly sentinel = false,
    private readonly ca?: Buffer,
  ) {}

  async start(password: string): Promise<void> {
    this.#child = spawn(this.bin, [this.conf, ...(this.sentinel ? ["--sentinel"] : [])], { stdio: "ignore" });
    await waitFor(
      `redis-server on port ${this.port}`,
      async () => ((await send(this.port, ["PING"], password, this.ca)) === "PONG" ? true : undefined),
      { timeoutMs: 20_000, intervalMs: 50 },
    );
  }

  async kill(): Promise<void> {
    const c = this.#child;
    this.#child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, "exit");
    c.kill("SIGKILL");
    await exited;
  }
}

async function toolsOrSkip(): Promise<{ server: string; cli: string }> {
  const server = findOnPath("redis-server");
  const cli = findOnPath("redis-cli");
  if (server === undefined || cli === undefined)
    throw new EmulatorUnavailableError(
      "redis-server or redis-cli not found on PATH (apt-get install -y redis-server)",
    );
  return { server, cli };
}

/** Files of a CA and of a server certificate for 127.0.0.1 (test/support/tls.ts). */
export interface RedisTls {
  readonly caFile: string;
  readonly ca: Buffer;
  readonly certFile: string;
  readonly keyFile: string;
  /** The cluster bus always asks nodes for a client certificate. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

/** The lines of a server's config that make it speak only TLS on `port`, replication too. */
const tlsLines = (port: number, tls: RedisTls): string[] => [
  "port 0",
  `tls-port ${port}`,
  `tls-cert-file ${tls.certFile}`,
  `tls-key-file ${tls.keyFile}`,
  `tls-ca-cert-file ${tls.caFile}`,
  `tls-client-cert-file ${tls.clientCertFile}`,
  `tls-client-key-file ${tls.clientKeyFile}`,
  "tls-auth-clients no",
  "tls-replication yes",
];

const BASE_CONF = ["bind 127.0.0.1", 'save ""', "appendonly no", "protected-mode no"];

/** Sentinel: a primary, a replica, one Sentinel. */
export interface SentinelSet {
  readonly name: string;
  /** `host:port` of the Sentinel. */
  readonly sentinels: string[];
  /** The port of the current primary, as the Sentinel says. */
  primaryPort(): Promise<number>;
  /** Ports of the two Redis servers (primary first at the start). */
  readonly ports: readonly [number, number];
  /** One command to a Redis server of the set. */
  command(port: number, ...args: string[]): Promise<unknown>;
  /** Forces a failover and resolves once the Sentinel names the other server as primary. */
  failover(): Promise<number>;
  stop(): Promise<void>;
}

/** A Sentinel set; with `tls`, the servers and the Sentinel speak only TLS. */
export async function startSentinelSet(tls?: RedisTls): Promise<SentinelSet> {
  const { server: bin } = await toolsOrSkip();
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-sentinel-"));
  const servers: Server[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [primary, replica, sentinel] = await freePorts(3);
    const redisConf = async (port: number, extra: string[]) => {
      const file = join(dir, `redis-${port}.conf`);
      await writeFile(
        file,
        [
          ...BASE_CONF,
          ...(tls === undefined ? [`port ${port}`] : tlsLines(port, tls)),
          `dir ${dir}`,
          `requirepass ${REDIS_PASSWORD}`,
          `masterauth ${REDIS_PASSWORD}`,
          "replica-announce-ip 127.0.0.1",
          ...extra,
        ].join("\n"),
      );
      return new Server(bin, port, file, false, tls?.ca);
    };
    const p = await redisConf(primary, []);
    const r = await redisConf(replica, [`replicaof 127.0.0.1 ${primary}`]);
    const sentinelFile = join(dir, "sentinel.conf");
    await writeFile(
      sentinelFile,
      [
        "bind 127.0.0.1",
        ...(tls === undefined ? [`port ${sentinel}`] : tlsLines(sentinel, tls)),
        `dir ${dir}`,
        "sentinel announce-ip 127.0.0.1",
        `sentinel announce-port ${sentinel}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary} 1`,
        `sentinel auth-pass ${MASTER_NAME} ${REDIS_PASSWORD}`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 2000`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `requirepass ${SENTINEL_PASSWORD}`,
      ].join("\n"),
    );
    const s = new Server(bin, sentinel, sentinelFile, true, tls?.ca);
    servers.push(p, r, s);
    await p.start(REDIS_PASSWORD);
    await r.start(REDIS_PASSWORD);
    await s.start(SENTINEL_PASSWORD);
    const ask = (...args: string[]) => send(sentinel, args, SENTINEL_PASSWORD, tls?.ca);
    const primaryPort = async () =>
      Number(((await ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)) as string[])[1]);
    // The Sentinel must know a replica in sync before it can fail over to it.
    const replicaReady = async () => {
      const replicas = (await ask("SENTINEL", "REPLICAS", MASTER_NAME)) as string[][];
      return replicas.some((fields) => {
        const f = new Map<string, string>();
        for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i] as string, fields[i + 1] as string);
        return f.get("flags") === "slave" && f.get("master-link-status") === "ok";
      })
        ? true
        : undefined;
    };
    await waitFor("the Sentinel to know the replica", replicaReady, { timeoutMs: 20_000, intervalMs: 100 });
    return {
      name: MASTER_NAME,
      sentinels: [`127.0.0.1:${sentinel}`],
      ports: [primary, replica],
      primaryPort,
      command: (port, ...args) => send(port, args, REDIS_PASSWORD, tls?.ca),
      async failover() {
        await waitFor("the Sentinel to know the replica", replicaReady, {
          timeoutMs: 20_000,
          intervalMs: 100,
        });
        const before = await primaryPort();
        const answer = await ask("SENTINEL", "FAILOVER", MASTER_NAME);
        if (answer !== "OK") throw new Error(`SENTINEL FAILOVER answered ${String(answer)}`);
        return waitFor(
          "the Sentinel to name the new primary",
          async () => {
            const now = await primaryPort();
            if (now === before) return undefined;
            const role = (await send(now, ["ROLE"], REDIS_PASSWORD, tls?.ca)) as unknown[];
            return role[0] === "master" ? now : undefined;
          },
          { timeoutMs: 20_000, intervalMs: 100 },
        );
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A Redis Cluster of three primaries. */
export interface ClusterSet {
  /** `host:port` of each node. */
  readonly nodes: string[];
  readonly ports: readonly number[];
  command(port: number, ...args: string[]): Promise<unknown>;
  /** Every string key and its value, over all nodes. */
  dump(): Promise<Map<string, string>>;
  /** Kills node `i` (its slots become unreachable; the cluster marks itself failed). */
  kill(i: number): Promise<void>;
  /** Starts node `i` again, with its cluster state, and waits until the cluster is whole. */
  start(i: number): Promise<void>;
  stop(): Promise<void>;
}

const clusterOk = async (port: number, ca?: Buffer) =>
  String(await send(port, ["CLUSTER", "INFO"], REDIS_PASSWORD, ca)).includes("cluster_state:ok")
    ? true
    : undefined;

/** Three primaries; with `tls`, clients and the cluster bus speak only TLS. */
export async function startCluster(tls?: RedisTls): Promise<ClusterSet> {
  const { server: bin, cli } = await toolsOrSkip();
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-cluster-"));
  const servers: Server[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const [port, bus] = await freePorts(2);
      const file = join(dir, `node-${port}.conf`);
      await writeFile(
        file,
        [
          ...BASE_CONF,
          ...(tls === undefined ? [`port ${port}`] : [...tlsLines(port, tls), "tls-cluster yes"]),
          `dir ${dir}`,
          "cluster-enabled yes",
          `cluster-config-file nodes-${port}.conf`,
          `cluster-port ${bus}`,
          "cluster-node-timeout 1000",
          "cluster-announce-ip 127.0.0.1",
          `requirepass ${REDIS_PASSWORD}`,
          `masterauth ${REDIS_PASSWORD}`,
        ].join("\n"),
      );
      servers.push(new Server(bin, port, file, false, tls?.ca));
    }
    await Promise.all(servers.map((s) => s.start(REDIS_PASSWORD)));
    const ports = servers.map((s) => s.port);
    const created = spawnSync(
      cli,
      [
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
        "--no-auth-warning",
        ...(tls === undefined ? [] : ["--tls", "--cacert", tls.caFile]),
        "-a",
        REDIS_PASSWORD,
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (created.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    const whole = () =>
      waitFor(
        "every node to see the cluster ok",
        async () =>
          (await Promise.all(ports.map((p) => clusterOk(p, tls?.ca)))).every((x) => x === true)
            ? true
            : undefined,
        { timeoutMs: 20_000, intervalMs: 100 },
      );
    await whole();
    const command = (port: number, ...args: string[]) => send(port, args, REDIS_PASSWORD, tls?.ca);
    return {
      nodes: ports.map((p) => `127.0.0.1:${p}`),
      ports,
      command,
      async dump() {
        const out = new Map<string, string>();
        for (const port of ports) {
          const keys = (await command(port, "KEYS", "*")) as string[];
          for (const key of keys) {
            const value = await command(port, "GET", key);
            if (typeof value === "string") out.set(key, value);
          }
        }
        return out;
      },
      kill: (i) => (servers[i] as Server).kill(),
      async start(i) {
        await (servers[i] as Server).start(REDIS_PASSWORD);
        await whole();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A Sentinel set for test `t`, stopped at teardown; undefined after a loud skip (fails under CI=true). */
export function sentinelFor(t: Test, tls?: RedisTls): Promise<SentinelSet | undefined> {
  return withEmulator(t, "redis-server (Sentinel)", () => startSentinelSet(tls));
}

/** A Redis Cluster for test `t`, stopped at teardown; undefined after a loud skip (fails under CI=true). */
export function clusterFor(t: Test, tls?: RedisTls): Promise<ClusterSet | undefined> {
  return withEmulator(t, "redis-server (Cluster)", () => startCluster(tls));
}
