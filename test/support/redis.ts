/**
 * A real redis-server for the store's tests (Debian's `redis-server` package; `.ci/run` installs
 * it when missing): one private server per test file on a free port of 127.0.0.1, nothing saved
 * to disk, stoppable and restartable on the same port to play an outage.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Test } from "tap";
import { EmulatorUnavailableError, freePort } from "../../demo/cognito-emulator.js";
import { withEmulator } from "./emulators.js";
import { findOnPath } from "./moto.js";
import { waitFor } from "./wait.js";

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Sends one command with RESP and returns the raw reply (tests read the store directly). */
  command(...args: string[]): Promise<string>;
  /** Every key and its value (string keys only), for the tests that scan what is stored. */
  dump(): Promise<Map<string, string>>;
  /** Kills the server (an outage); `start` brings it back, empty, on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
}

/** A tiny RESP reader: enough for the replies the tests ask for (bulk strings, arrays, integers). */
function parse(buf: Buffer, at = 0): { value: unknown; end: number } | undefined {
  const eol = buf.indexOf("\r\n", at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at] as number);
  const line = buf.toString("utf8", at + 1, eol);
  if (type === "+" || type === "-" || type === ":")
    return { value: type === ":" ? Number(line) : line, end: eol + 2 };
  if (type === "$") {
    const n = Number(line);
    if (n < 0) return { value: null, end: eol + 2 };
    if (buf.length < eol + 2 + n + 2) return undefined;
    return { value: buf.toString("utf8", eol + 2, eol + 2 + n), end: eol + 2 + n + 2 };
  }
  if (type === "*") {
    const n = Number(line);
    const items: unknown[] = [];
    let end = eol + 2;
    for (let i = 0; i < n; i++) {
      const item = parse(buf, end);
      if (item === undefined) return undefined;
      items.push(item.value);
      end = item.end;
    }
    return { value: items, end };
  }
  throw new Error(`unexpected RESP reply ${type}`);
}

/**
 * Sends one command with RESP (after `AUTH password` when given; over TLS trusting `ca` when
 * given) and resolves its raw reply; error replies resolve as their text (tests compare them).
 */
export function send(port: number, args: string[], password?: string, ca?: Buffer): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket =
      ca === undefined ? connect({ host: "127.0.0.1", port }) : tlsConnect({ host: "127.0.0.1", port, ca });
    let buf = Buffer.alloc(0);
    let skip = password === undefined ? 0 : 1;
    socket.setTimeout(5_000, () => socket.destroy(new Error("redis command timed out")));
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const reply = parse(buf);
        if (reply === undefined) return;
        buf = buf.subarray(reply.end);
        if (skip > 0) {
          skip--;
          if (reply.value !== "OK") {
            socket.destroy();
            reject(new Error(`AUTH refused: ${String(reply.value)}`));
            return;
          }
          continue;
        }
        socket.end();
        resolve(reply.value);
        return;
      }
    });
    socket.write((password === undefined ? "" : encode(["AUTH", password])) + encode(args));
  });
}

/** Starts `redis-server` on a free port; rejects with EmulatorUnavailableError when it is not installed. */
export async function startRedis(): Promise<RedisServer> {
  const bin = findOnPath("redis-server");
  if (bin === undefined)
    throw new EmulatorUnavailableError("redis-server not found on PATH (apt-get install -y redis-server)");
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    await waitFor(
      `redis-server on port ${port}`,
      async () => ((await send(port, ["PING"])) === "PONG" ? true : undefined),
      {
        timeoutMs: 20_000,
      },
    );
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = once(c, "exit");
    c.kill("SIGKILL");
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    command: async (...args) => String(await send(port, args)),
    async dump() {
      const keys = (await send(port, ["KEYS", "*"])) as string[];
      const out = new Map<string, string>();
      for (const key of keys) {
        const value = await send(port, ["GET", key]);
        if (typeof value === "string") out.set(key, value);
      }
      return out;
    },
    kill,
    start,
    stop: kill,
  };
}

/** A redis-server for test `t`, stopped at teardown; undefined after a loud skip (fails under CI=true). */
export function redisFor(t: Test): Promise<RedisServer | undefined> {
  return withEmulator(t, "redis-server", startRedis);
}
