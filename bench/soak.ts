// Soak test: `npm run soak` (= build, then `node dist/bench/soak.js`). Not part of `npm test`.
//
// Starts the bench issuer and upstream (bench/issuer.ts, bench/upstream.ts) and cupbearer (the
// built bin) as child processes on free ports of 127.0.0.1, and a WebSocket echo server in this
// process. Then drives SOAK_SECONDS (default 60) of mixed traffic from SOAK_CONNECTIONS (default
// 32) concurrent loops, each request picked at random:
//   40% valid      GET /api/… with one token (a cache hit)              must be 200
//   15% new token  GET /api/… with a token cupbearer has not cached     must be 200
//   15% invalid    GET /api/… with a token whose signature is broken     must be 401
//   15% refused    POST /api/… without a token, declaring a 1 MiB body and sending 4 KiB
//                  (cupbearer must answer 401 and close, never reading the rest)
//   15% upgrade    a WebSocket to /ws with a valid token, one message echoed
// Prints a table every 10 s (outcomes in that window, cupbearer's RSS), and exits 1 unless valid
// requests (valid, new token, upgrade) saw no error and RSS grew less than 10% between second 10
// and the end (each the lowest RSS of a 5 s window, seconds 10-14 and the last five: the floor
// of the garbage collector's sawtooth, which a leak raises and a passing peak does not). cupbearer's token cache is smaller than the set of "new" tokens cycled through,
// so every one of them is a miss, and the cache is full long before second 10: growth after that
// is a leak, not a cache filling up.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Client, request } from "undici";
import { WebSocket, WebSocketServer } from "ws";
import { freePorts } from "../demo/cognito-emulator.js";
import { BENCH_CLIENT_ID, BENCH_SCOPE } from "./shared.js";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 32);
const NEW_TOKENS = 3000;
const CACHE_ENTRIES = 1000;
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist/src/cli.js");

type Kind = "valid" | "newToken" | "invalid" | "refused" | "upgrade";
const MIX: Array<[Kind, number]> = [
  ["valid", 40],
  ["newToken", 15],
  ["invalid", 15],
  ["refused", 15],
  ["upgrade", 15],
];
/** Kinds that must never fail: a valid caller's request. */
const MUST_PASS = new Set<Kind>(["valid", "newToken", "upgrade"]);

function pick(): Kind {
  let r = Math.random() * 100;
  for (const [kind, weight] of MIX) {
    r -= weight;
    if (r < 0) return kind;
  }
  return "valid";
}

const children: ChildProcess[] = [];
function start(args: string[]): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  return child;
}

async function waitOk(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await request(url);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within 20 s`);
    await sleep(100);
  }
}

/** cupbearer's resident set size in MiB, from /proc. */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** Declares a 1 MiB body, sends 4 KiB, and expects a 401 and the connection closed by cupbearer. */
function refusedBody(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () =>
      socket.write(
        `POST /api/upload HTTP/1.1\r\nHost: soak.test\r\nContent-Length: 1048576\r\n\r\n${"x".repeat(4096)}`,
      ),
    );
    let head = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 5000);
    socket.on("data", (d: Buffer) => {
      head += d.toString("latin1");
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(head.startsWith("HTTP/1.1 401 ") && /\r\nconnection: close\r\n/i.test(head));
    });
  });
}

function upgrade(port: number, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/echo`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve(false);
    }, 5000);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      resolve(ok);
    };
    ws.on("open", () => ws.send("ping"));
    ws.on("message", (m) => {
      ws.close();
      done(m.toString() === "echo:ping");
    });
    ws.on("unexpected-response", () => done(false));
    ws.on("error", () => done(false));
  });
}

async function main(): Promise<number> {
  const tmp = mkdtempSync(join(tmpdir(), "cupbearer-soak-"));
  const [issuerPort, upstreamPort, port, adminPort] = await freePorts(4);
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  wss.on("connection", (ws) => ws.on("message", (m) => ws.send(`echo:${m.toString()}`)));
  await new Promise((r) => wss.once("listening", r));
  const wsPort = (wss.address() as { port: number }).port;
  try {
    start([join(ROOT, "dist/bench/issuer.js"), String(issuerPort)]);
    start([join(ROOT, "dist/bench/upstream.js"), String(upstreamPort)]);
    const issuer = `http://127.0.0.1:${issuerPort}`;
    await waitOk(`${issuer}/.well-known/jwks.json`);
    const config = join(tmp, "cupbearer.yaml");
    writeFileSync(
      config,
      `listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
log: { level: warn }
tokens: { cacheMaxEntries: ${CACHE_ENTRIES} }
issuers:
  - { id: bench, issuer: "${issuer}", jwksUri: "${issuer}/.well-known/jwks.json", clientIds: [${BENCH_CLIENT_ID}] }
routes:
  - { id: ws, match: { pathPrefix: /ws }, upstream: "http://127.0.0.1:${wsPort}" }
  - { id: api, match: { pathPrefix: /api }, upstream: "http://127.0.0.1:${upstreamPort}", auth: { scopes: [${BENCH_SCOPE}] } }
`,
    );
    const cupbearer = start([CLI, "--config", config]);
    await waitOk(`http://127.0.0.1:${adminPort}/readyz`);
    const pid = cupbearer.pid as number;

    const token = await (await request(`${issuer}/token`)).body.text();
    const fresh = (await (await request(`${issuer}/mint?count=${NEW_TOKENS}`)).body.text())
      .trim()
      .split("\n");
    const broken = `${token.slice(0, -6)}AAAAAA`;
    process.stdout.write(
      `cupbearer soak: ${SECONDS} s, ${CONNECTIONS} connections, ${fresh.length} new tokens cycled through a cache of ${CACHE_ENTRIES}\n\n`,
    );

    const kinds = MIX.map(([k]) => k);
    const window = () =>
      Object.fromEntries(kinds.map((k) => [k, { ok: 0, failed: 0 }])) as Record<
        Kind,
        { ok: number; failed: number }
      >;
    let current = window();
    const total = window();
    const header = `${"second".padStart(6)} ${kinds.map((k) => `${k} ok/failed`.padStart(20)).join(" ")} ${"RSS MiB".padStart(8)}`;
    process.stdout.write(`${header}\n`);
    /** RSS each second, by second. */
    const rss: number[] = [];
    let next = 0;
    const started = Date.now();
    const stopAt = started + SECONDS * 1000;

    const api = `http://127.0.0.1:${port}`;
    const worker = async () => {
      const client = new Client(api, { pipelining: 1 });
      try {
        while (Date.now() < stopAt) {
          const kind = pick();
          let ok = false;
          try {
            if (kind === "refused") ok = await refusedBody(port);
            else if (kind === "upgrade") ok = await upgrade(port, token);
            else {
              const t =
                kind === "valid"
                  ? token
                  : kind === "invalid"
                    ? broken
                    : (fresh[next++ % fresh.length] as string);
              const res = await client.request({
                path: `/api/item/${next % 100}`,
                method: "GET",
                headers: { host: "soak.test", authorization: `Bearer ${t}` },
              });
              await res.body.dump();
              ok = res.statusCode === (kind === "invalid" ? 401 : 200);
            }
          } catch {
            ok = false;
          }
          current[kind][ok ? "ok" : "failed"]++;
          total[kind][ok ? "ok" : "failed"]++;
        }
      } finally {
        await client.close();
      }
    };
    const ticker = setInterval(() => {
      const second = Math.round((Date.now() - started) / 1000);
      rss[second] = rssMiB(pid);
      if (second % 10 === 0) printRow(second);
    }, 1000);
    const printRow = (second: number) => {
      const row = `${String(second).padStart(6)} ${kinds.map((k) => `${current[k].ok}/${current[k].failed}`.padStart(20)).join(" ")} ${(rss[second] ?? rssMiB(pid)).toFixed(1).padStart(8)}`;
      process.stdout.write(`${row}\n`);
      current = window();
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    clearInterval(ticker);
    rss[SECONDS] = rssMiB(pid);
    printRow(SECONDS);
    // The floor of the garbage collector's sawtooth, over 5 s: what a leak raises, unlike a peak.
    const floor = (from: number, to: number) =>
      Math.min(...rss.slice(from, to + 1).filter((v) => v !== undefined));
    const rssAt10 = SECONDS >= 15 ? floor(10, 14) : undefined;
    const rssEnd = floor(SECONDS - 4, SECONDS);

    const validErrors = kinds.filter((k) => MUST_PASS.has(k)).reduce((n, k) => n + total[k].failed, 0);
    const growth = rssAt10 === undefined ? 0 : (rssEnd - rssAt10) / rssAt10;
    process.stdout.write(
      `\n${"total".padStart(6)} ${kinds.map((k) => `${total[k].ok}/${total[k].failed}`.padStart(20)).join(" ")}\n\n`,
    );
    const checks: Array<[string, boolean]> = [
      [`errors on valid requests: ${validErrors} (must be 0)`, validErrors === 0],
      [
        `RSS (lowest of 5 s) at second 10 → at the end: ${rssAt10?.toFixed(1) ?? "?"} → ${rssEnd.toFixed(1)} MiB, ${(growth * 100).toFixed(1)}% (must be under 10%)`,
        rssAt10 !== undefined && growth < 0.1,
      ],
      [
        `refused bodies answered 401 and closed: ${total.refused.ok}/${total.refused.ok + total.refused.failed}`,
        total.refused.failed === 0,
      ],
      [
        `invalid tokens answered 401: ${total.invalid.ok}/${total.invalid.ok + total.invalid.failed}`,
        total.invalid.failed === 0,
      ],
    ];
    for (const [text, pass] of checks) process.stdout.write(`${pass ? "PASS" : "FAIL"}  ${text}\n`);
    return checks.every(([, pass]) => pass) ? 0 : 1;
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await new Promise((r) => wss.close(r));
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.stack : String(err)}\n`);
    for (const c of children) c.kill("SIGTERM");
    process.exitCode = 1;
  },
);
