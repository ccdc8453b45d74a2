// Benchmark orchestrator: `npm run bench` (= build, then `node dist/bench/run.js`).
//
// Starts, each as its own child process on a free 127.0.0.1 port: the bench upstream, the floor
// (bench/passthrough.ts, the leanest undici reverse proxy), nginx (if installed), the bench issuer
// and cupbearer (if dist/src/cli.js exists, access log on as by default); in this process, a Cognito
// Identity stand-in for cupbearer's AWS route (asked once per run). Then measures, one after the
// other, with wrk (or autocannon when wrk is missing):
//   1 upstream direct   2 floor   3 nginx   4 cupbearer /public
//   5 cupbearer /api, one token (cache hit)   6 cupbearer /api, a new unique token per request
//   7 cupbearer S3-style GET on a plain route, one token (the unsigned baseline of 8)
//   8 the same GET on an AWS route: identity-pool credentials (cached), SigV4-signed
// Each: req/s, p50, p99, and the CPU time per request of the server process measured (utime +
// stime from /proc, before and after the measured window: steadier than req/s on a shared VM).
// Then a table beside the floor's figures and the issue's targets (PASS/FAIL; the exit code stays 0).
//
// Environment:
//   BENCH_DURATION  seconds measured per scenario (default 10)
//   BENCH_PROFILE   a folder: the floor and cupbearer run with --cpu-prof and write their CPU profiles there
//   BENCH_WARMUP    seconds of warm-up before each scenario (default: duration/5, 1..3)
//   BENCH_LOADGEN   "wrk" or "autocannon" to force one (default: wrk when installed)
//   BENCH_TOKENS    tokens to mint for scenario 6 (default: sized from the cache-hit rate)
//   BENCH_ROUNDS    repeat all scenarios N times (round-robin) and report medians (default 1)
//   BENCH_ONLY      comma-separated scenario keys to run (direct, floor, nginx, public, cacheHit,
//                   newToken, s3Unsigned, s3Signed), e.g. to profile one path with BENCH_PROFILE
//   BENCH_PACE_MS   the pause of each connection between its requests in the equal-load pass
//                   (default 10: at most 3,200 req/s, under every server's capacity here; 0 skips it)
//
// When taskset exists the load generator runs on one core and every server on another, so the
// servers never compete with the load generator for CPU.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { freePorts } from "../demo/cognito-emulator.js";
import type { LoadgenJob, LoadgenOutput } from "./autocannon-loadgen.js";
import { BENCH_ACCESS_KEY_ID, type IdentityService, startIdentityService } from "./aws-identity.js";
import { cupbearerConfig } from "./config.js";
import { BENCH_SUB, UPSTREAM_COUNT_PATH, UPSTREAM_LAST_PATH, type UpstreamLastRequest } from "./shared.js";

// ---------------------------------------------------------------------------------------------
// Settings and environment

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HERE = fileURLToPath(new URL(".", import.meta.url));
const CLI = join(ROOT, "dist", "src", "cli.js");
const CONNECTIONS = 32;
const READY_TIMEOUT_MS = 20_000;
const NO_TOKEN = -1;

function positiveNumberEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

// wrk only takes whole seconds.
const DURATION_S = Math.max(1, Math.ceil(positiveNumberEnv("BENCH_DURATION") ?? 10));
const WARMUP_S = Math.max(1, Math.ceil(positiveNumberEnv("BENCH_WARMUP") ?? Math.min(3, DURATION_S / 5)));
const TOKENS_OVERRIDE = positiveNumberEnv("BENCH_TOKENS");
// Noisy (shared, virtualised) machines: run the whole sequence several times, report medians.
const ROUNDS = Math.max(1, Math.round(positiveNumberEnv("BENCH_ROUNDS") ?? 1));
/**
 * Latency is compared at equal load: at saturation every closed-loop client waits about
 * connections / throughput, so a p99 there says again what req/s says. In the paced pass each
 * connection pauses this long between its requests, the same offered load for every server.
 */
const PACE_MS = process.env.BENCH_PACE_MS === "0" ? 0 : Math.round(positiveNumberEnv("BENCH_PACE_MS") ?? 10);
/** The most requests per second the paced pass can send. */
const PACED_MAX_RPS = PACE_MS > 0 ? (CONNECTIONS * 1000) / PACE_MS : 0;

/** Absolute path of an executable on PATH (plus the sbin dirs, where Debian puts nginx), or undefined. */
function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Output of a short command (stdout + stderr, even when it exits non-zero), or "" if it can't start. */
function commandOutput(cmd: string, args: string[]): string {
  // wrk --version exits 1 and nginx -v prints to stderr: take whatever was printed.
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`;
}

/** CPUs this process may run on, from `taskset -cp` (e.g. "0-3,6"). */
function allowedCpus(taskset: string): number[] {
  const out = commandOutput(taskset, ["-cp", String(process.pid)]);
  const list = out.split(":").pop()?.trim() ?? "";
  const cpuIds: number[] = [];
  for (const part of list.split(",")) {
    const [from, to] = part.split("-").map(Number);
    if (from === undefined || !Number.isInteger(from)) continue;
    for (let c = from; c <= (to ?? from); c++) cpuIds.push(c);
  }
  return cpuIds;
}

interface Pinning {
  taskset: string;
  loadCpu: number;
  serverCpu: number;
  allCpus: number[];
}

const tasksetPath = which("taskset");
const pinning: Pinning | undefined = (() => {
  if (tasksetPath === undefined) return undefined;
  const allowed = allowedCpus(tasksetPath);
  const [loadCpu, serverCpu] = allowed;
  if (loadCpu === undefined || serverCpu === undefined) return undefined;
  return { taskset: tasksetPath, loadCpu, serverCpu, allCpus: allowed };
})();

const wrkPath = which("wrk");
const nginxPath = which("nginx");
const loadgenKind: "wrk" | "autocannon" = (() => {
  const forced = process.env.BENCH_LOADGEN;
  if (forced === "autocannon") return "autocannon";
  if (forced === "wrk" && wrkPath === undefined)
    throw new Error("BENCH_LOADGEN=wrk but wrk is not installed");
  return wrkPath !== undefined ? "wrk" : "autocannon";
})();

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked so it can be killed at the end, on errors and on signals.

interface Proc {
  name: string;
  child: ChildProcess;
  log?: string;
  /** Spawned in its own process group (servers), so the whole group can be signalled. */
  group: boolean;
}

const procs: Proc[] = [];
let tmp: string | undefined;
/** In-process identity pool stand-in, closed by cleanup(). */
let identityService: IdentityService | undefined;

function alive(p: Proc): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

function signalProc(p: Proc, signal: NodeJS.Signals): void {
  if (!alive(p) || p.child.pid === undefined) return;
  try {
    // A negative pid targets the group: also reaches e.g. nginx's worker.
    if (p.group) process.kill(-p.child.pid, signal);
    else p.child.kill(signal);
  } catch {
    // already gone
  }
}

/** Prefix argv with taskset when pinning is available. */
function pinned(cpu: "load" | "server", argv: string[]): string[] {
  if (pinning === undefined) return argv;
  return [pinning.taskset, "-c", String(cpu === "load" ? pinning.loadCpu : pinning.serverCpu), ...argv];
}

/** Start a long-running server, its output going to a log file in the temp dir. */
function startServer(name: string, argv: string[]): Proc {
  if (tmp === undefined) throw new Error("temp dir not created");
  const log = join(tmp, `${name}.log`);
  const fd = openSync(log, "a");
  const [cmd, ...args] = pinned("server", argv);
  if (cmd === undefined) throw new Error("empty command");
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", fd, fd], detached: true, env: process.env });
  closeSync(fd);
  const p: Proc = { name, child, log, group: true };
  child.on("error", (err) => process.stderr.write(`${name}: failed to start: ${err.message}\n`));
  procs.push(p);
  return p;
}

/** Run a command to completion (the load generator), capturing its output. */
function runCommand(
  name: string,
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error("empty command");
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const p: Proc = { name, child, group: false };
    procs.push(p);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      procs.splice(procs.indexOf(p), 1);
      resolve({ code, stdout, stderr });
    });
  });
}

function logTail(p: Proc, lines = 15): string {
  if (p.log === undefined || !existsSync(p.log)) return "";
  const text = readFileSync(p.log, "utf8").trimEnd();
  return text === "" ? "(log empty)" : text.split("\n").slice(-lines).join("\n");
}

let cleanupPromise: Promise<void> | undefined;
/** Set on a signal: whatever fails after that is a consequence of stopping, not worth reporting. */
let stopping = false;

function cleanup(): Promise<void> {
  cleanupPromise ??= (async () => {
    for (const p of procs) signalProc(p, "SIGTERM");
    const deadline = Date.now() + 3000;
    while (procs.some(alive) && Date.now() < deadline) await sleep(50);
    for (const p of procs) signalProc(p, "SIGKILL");
    await identityService?.close();
    identityService = undefined;
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
  })();
  return cleanupPromise;
}

// Last resort (e.g. process.exit from elsewhere): synchronous kill, nothing async runs in "exit".
process.on("exit", () => {
  for (const p of procs) signalProc(p, "SIGKILL");
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  ["SIGHUP", 129],
] as const) {
  process.on(signal, () => {
    stopping = true;
    process.stderr.write(`\nbench: ${signal}, stopping children\n`);
    void cleanup().finally(() => process.exit(code));
  });
}

// ---------------------------------------------------------------------------------------------
// Small HTTP helpers (orchestrator side only: never on the measured path)

async function httpGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const res = await request(url, { headers, headersTimeout: 5000, bodyTimeout: 5000 });
  return { status: res.statusCode, body: await res.body.text() };
}

/** Poll url until it answers `wanted` (default: any 2xx). Fails early if the process dies. */
async function waitHttp(p: Proc, url: string, timeoutMs: number, wanted?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (!alive(p)) {
      throw new Error(
        `${p.name} exited (code ${p.child.exitCode}, signal ${p.child.signalCode})\n${logTail(p)}`,
      );
    }
    try {
      const { status } = await httpGet(url);
      if (wanted === undefined ? status >= 200 && status < 300 : status === wanted) return;
      last = `HTTP ${status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${p.name} not ready after ${timeoutMs} ms at ${url} (last: ${last})\n${logTail(p)}`);
}

async function upstreamCount(upstreamPort: number): Promise<number> {
  const { body } = await httpGet(`http://127.0.0.1:${upstreamPort}${UPSTREAM_COUNT_PATH}`);
  return (JSON.parse(body) as { served: number }).served;
}

async function upstreamLast(upstreamPort: number): Promise<UpstreamLastRequest> {
  const { body } = await httpGet(`http://127.0.0.1:${upstreamPort}${UPSTREAM_LAST_PATH}`);
  return JSON.parse(body) as UpstreamLastRequest;
}

// ---------------------------------------------------------------------------------------------
// CPU time of the servers (Linux /proc): what a request costs the server, whatever the throughput.

/** Ticks per second of /proc's utime and stime. */
const CLOCK_TICKS = Number(commandOutput("getconf", ["CLK_TCK"]).trim()) || 100;
const HAVE_PROC = existsSync("/proc/self/stat");

/** The fields of /proc/PID/stat after the command name (which may hold spaces). */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // gone
  }
}

/** Every process of a server: its process group (nginx's master and worker), or itself. */
function serverPids(p: Proc): number[] {
  const leader = p.child.pid;
  if (leader === undefined) return [];
  if (!p.group) return [leader];
  // pgrp is the third field after the name.
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry) && Number(statFields(entry)?.[2]) === leader)
    .map(Number);
}

/** utime + stime of the server's processes (all their threads), in µs. */
function cpuUs(p: Proc): number {
  let ticks = 0;
  for (const pid of serverPids(p)) {
    const f = statFields(pid);
    if (f !== undefined) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1e6) / CLOCK_TICKS;
}

/**
 * CPU time of every process outside the bench (its own servers, load generator and this process),
 * in µs: another engineer's test suite on a shared machine. Reaped children's time counts in their
 * parent (cutime, cstime), so a process that ends within the window is not lost.
 */
function othersCpuUs(): number {
  const ours = new Set([process.pid, ...procs.flatMap(serverPids)]);
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || ours.has(Number(entry))) continue;
    const f = statFields(entry);
    if (f !== undefined) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return (ticks * 1e6) / CLOCK_TICKS;
}

/** A reading of the measured server, the upstream and everything else. */
interface CpuSample {
  at: number;
  server: number;
  upstream: number;
  others: number;
}

function sampleCpu(server: Proc, upstream: Proc): CpuSample {
  return {
    at: performance.now() * 1000,
    server: cpuUs(server),
    upstream: cpuUs(upstream),
    others: othersCpuUs(),
  };
}

// ---------------------------------------------------------------------------------------------
// Load generation

interface Target {
  url: string;
  headers?: Record<string, string>;
  /** Rotate through this token file, starting at tokenOffset. */
  tokenFile?: string;
  tokenOffset?: number;
  /** Each connection pauses this long between its requests (the paced pass). */
  pauseMs?: number;
}

interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses that were not 2xx. wrk only counts status >= 400 here; 3xx are caught by the
   *  upstream cross-check instead (a proxy answering on its own never reaches the upstream). */
  non2xx: number;
  socketErrors: number;
  timeouts: number;
  tokensUsed: number;
  tokensWrapped: number;
  /** First token index the next run may use without repeating one. */
  nextToken: number;
}

// wrk per-thread script: each request takes the next token of the file; threads take interleaved
// indexes so none is sent twice. Reports usage from done() for the orchestrator to parse.
const WRK_TOKENS_LUA = `
local tokens, n = {}, 0
local headers = {}
local threads, nthreads = {}, 0
idx, stride, used, wrapped = 0, 1, 0, 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then n = n + 1; tokens[n] = line end
  end
  stride = tonumber(args[3]) or 1
  idx = (tonumber(args[2]) or 0) + tid
end

function request()
  local i = idx
  idx = idx + stride
  if i >= n then wrapped = wrapped + 1; i = i % n end
  used = used + 1
  headers["Authorization"] = "Bearer " .. tokens[i + 1]
  return wrk.format(nil, nil, headers)
end

function done(summary, latency, requests)
  local u, w, nx = 0, 0, 0
  for _, t in ipairs(threads) do
    u = u + t:get("used")
    w = w + t:get("wrapped")
    if t:get("idx") > nx then nx = t:get("idx") end
  end
  io.write(string.format("BENCH_TOKENS used=%d wrapped=%d next=%d\\n", u, w, nx))
end
`;

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function wrkDurationMs(value: string, unit: string): number {
  const factor = UNIT_MS[unit];
  if (factor === undefined) throw new Error(`unknown wrk unit ${unit}`);
  return Number(value) * factor;
}

function parseWrk(out: string): LoadResult {
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(out);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  };
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, "m").exec(out);
    if (m?.[1] === undefined || m[2] === undefined)
      throw new Error(`wrk output has no ${p}% latency:\n${out}`);
    return wrkDurationMs(m[1], m[2]);
  };
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)/.exec(out);
  const rps = num(/^Requests\/sec:\s+([\d.]+)/m);
  if (total?.[1] === undefined || total[2] === undefined || total[3] === undefined || rps === undefined) {
    throw new Error(`unexpected wrk output:\n${out}`);
  }
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const tokens = /BENCH_TOKENS used=(\d+) wrapped=(\d+) next=(\d+)/.exec(out);
  return {
    requests: Number(total[1]),
    durationS: wrkDurationMs(total[2], total[3]) / 1000,
    rps,
    p50Ms: pct("50"),
    p99Ms: pct("99"),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) ?? 0,
    socketErrors: sock === null ? 0 : Number(sock[1]) + Number(sock[2]) + Number(sock[3]),
    timeouts: sock === null ? 0 : Number(sock[4]),
    tokensUsed: tokens === null ? 0 : Number(tokens[1]),
    tokensWrapped: tokens === null ? 0 : Number(tokens[2]),
    nextToken: tokens === null ? NO_TOKEN : Number(tokens[3]),
  };
}

async function runLoad(target: Target, durationS: number): Promise<LoadResult> {
  if (loadgenKind === "wrk") {
    if (wrkPath === undefined || tmp === undefined) throw new Error("wrk missing");
    const args = ["-t1", `-c${CONNECTIONS}`, `-d${durationS}s`, "--latency"];
    for (const [k, v] of Object.entries(target.headers ?? {})) args.push("-H", `${k}: ${v}`);
    const tail: string[] = [];
    const pause = target.pauseMs ?? 0;
    if (target.tokenFile !== undefined || pause > 0) {
      // wrk calls delay() before each request of a connection when the script defines it.
      const tokens = target.tokenFile !== undefined;
      const script = join(tmp, `${tokens ? "tokens" : "plain"}-${pause}.lua`);
      if (!existsSync(script)) {
        const delay = pause > 0 ? `\nfunction delay()\n  return ${pause}\nend\n` : "";
        writeFileSync(script, (tokens ? WRK_TOKENS_LUA : "") + delay);
      }
      args.push("-s", script);
      if (target.tokenFile !== undefined)
        tail.push("--", target.tokenFile, String(target.tokenOffset ?? 0), "1");
    }
    const { code, stdout, stderr } = await runCommand(
      "wrk",
      pinned("load", [wrkPath, ...args, target.url, ...tail]),
    );
    if (code !== 0) throw new Error(`wrk exited with ${code}:\n${stdout}${stderr}`);
    return parseWrk(stdout);
  }
  const job: LoadgenJob = {
    url: target.url,
    connections: CONNECTIONS,
    durationS,
    ...(target.pauseMs !== undefined && target.pauseMs > 0
      ? { connectionRate: Math.max(1, Math.round(1000 / target.pauseMs)) }
      : {}),
    ...(target.headers !== undefined ? { headers: target.headers } : {}),
    ...(target.tokenFile !== undefined
      ? { tokenFile: target.tokenFile, tokenOffset: target.tokenOffset ?? 0 }
      : {}),
  };
  const script = join(HERE, "autocannon-loadgen.js");
  const { code, stdout, stderr } = await runCommand(
    "autocannon",
    pinned("load", [process.execPath, script, JSON.stringify(job)]),
  );
  if (code !== 0) throw new Error(`autocannon loadgen exited with ${code}:\n${stdout}${stderr}`);
  const r = JSON.parse(stdout.trim().split("\n").pop() ?? "") as LoadgenOutput;
  return {
    requests: r.requests,
    durationS: r.durationS,
    rps: r.rps,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    non2xx: r.non2xx,
    socketErrors: r.errors,
    timeouts: r.timeouts,
    tokensUsed: r.tokensUsed,
    tokensWrapped: r.tokensWrapped,
    nextToken: target.tokenFile === undefined ? NO_TOKEN : (target.tokenOffset ?? 0) + r.tokensUsed,
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

type Key = "direct" | "floor" | "nginx" | "public" | "cacheHit" | "newToken" | "s3Unsigned" | "s3Signed";

/** One measured window: the load generator's figures and what it cost the servers. */
interface Run extends LoadResult {
  /** CPU µs per request of the scenario's server (for "direct", the upstream itself). */
  cpuUs: number;
  /** CPU µs per request of the upstream behind it. */
  upstreamUs: number;
  /** CPU time of processes outside the bench during the window, in cores (0.1: a tenth of one). */
  otherLoad: number;
}

interface Scenario {
  key: Key;
  name: string;
  /** The process whose CPU time is the scenario's cost. */
  server?: Proc;
  target?: Target;
  /** cupbearer's output file: its access-log lines must match the requests measured. */
  accessLog?: string;
  /** Set when the scenario cannot run at all (tool or cupbearer missing). */
  skipped?: string;
  /** Set when a preflight request showed the numbers would mean nothing (e.g. auth not enforced). */
  blocked?: string;
  /** Problems seen while measuring; any one makes the scenario invalid. */
  problems: string[];
  runs: Run[];
  /** Median over the rounds. */
  result?: Run;
  /** The paced pass (equal load), and its median. */
  pacedRuns: Run[];
  paced?: Run;
  /** First unused token index (token scenario), carried across warm-ups, runs and rounds. */
  nextToken: number;
}

/**
 * Lines the buffered access log may still hold when counted (48 KiB batches, about 180 lines,
 * flushed every second), or wrote in the window for warm-up requests: a count further below the
 * requests means no log.
 */
const ACCESS_LOG_SLACK = 512;
const ACCESS_LINE = Buffer.from('"msg":"request');

/** Access-log lines ("request" and "request refused") written to cupbearer's output file. */
function accessLines(file: string): number {
  const data = readFileSync(file);
  let n = 0;
  for (let i = data.indexOf(ACCESS_LINE); i !== -1; i = data.indexOf(ACCESS_LINE, i + 1)) n++;
  return n;
}

/** Warm up, then measure, cross-checking the requests the upstream actually served. */
async function measure(
  s: Scenario,
  upstream: Proc,
  upstreamPort: number,
  round: number,
  pauseMs = 0,
): Promise<void> {
  if (s.target === undefined || s.skipped !== undefined || s.server === undefined) return;
  if (s.blocked !== undefined) {
    if (round === 1) process.stdout.write(`  ${s.name}: not measured (${s.blocked})\n`);
    return;
  }
  const tag = `${ROUNDS > 1 ? `[${round}/${ROUNDS}] ` : ""}${pauseMs > 0 ? "[paced] " : ""}`;
  process.stdout.write(`  ${tag}${s.name}: warm-up ${WARMUP_S}s, measure ${DURATION_S}s ... `);
  const withTokens = (t: Target): Target => ({
    ...t,
    pauseMs,
    ...(t.tokenFile === undefined ? {} : { tokenOffset: s.nextToken }),
  });
  const warm = await runLoad(withTokens(s.target), WARMUP_S);
  // Warm-up tokens are spent: the measured run starts after the last one handed out.
  if (warm.nextToken !== NO_TOKEN) s.nextToken = warm.nextToken;
  await sleep(250); // let in-flight warm-up requests reach the upstream before counting
  const before = await upstreamCount(upstreamPort);
  // Emptied before each window, so the file stays small and holds this window's lines.
  if (s.accessLog !== undefined) truncateSync(s.accessLog, 0);
  const cpu0 = HAVE_PROC ? sampleCpu(s.server, upstream) : undefined;
  const r = await runLoad(withTokens(s.target), DURATION_S);
  const cpu1 = HAVE_PROC ? sampleCpu(s.server, upstream) : undefined;
  if (r.nextToken !== NO_TOKEN) s.nextToken = r.nextToken;
  await sleep(250);
  const served = (await upstreamCount(upstreamPort)) - before;
  const perRequest = (f: (c: CpuSample) => number): number =>
    cpu0 === undefined || cpu1 === undefined || r.requests === 0
      ? Number.NaN
      : (f(cpu1) - f(cpu0)) / r.requests;
  const run: Run = {
    ...r,
    cpuUs: perRequest((c) => c.server),
    upstreamUs: perRequest((c) => c.upstream),
    otherLoad:
      cpu0 === undefined || cpu1 === undefined
        ? Number.NaN
        : Math.max(0, cpu1.others - cpu0.others) / (cpu1.at - cpu0.at),
  };
  (pauseMs > 0 ? s.pacedRuns : s.runs).push(run);

  const problems: string[] = [];
  if (r.requests === 0) problems.push("no responses");
  if (r.non2xx > 0) problems.push(`${r.non2xx} non-2xx responses`);
  if (r.socketErrors > 0) problems.push(`${r.socketErrors} socket errors`);
  if (r.timeouts > 0) problems.push(`${r.timeouts} timeouts`);
  if (r.tokensWrapped > 0) {
    problems.push(`ran out of unique tokens: ${r.tokensWrapped} requests reused one (raise BENCH_TOKENS)`);
  }
  // Every 2xx must have been served by the upstream (a proxy answering on its own, e.g. with a 3xx
  // wrk doesn't count, shows up here); the upstream may see up to one request per connection more
  // (sent before the load generator stopped, answer never read).
  const ok = r.requests - r.non2xx;
  if (served < ok) problems.push(`upstream served only ${served} of ${ok} 2xx responses`);
  else if (served > r.requests + 2 * CONNECTIONS)
    problems.push(`upstream served ${served} for ${r.requests}`);
  // The access log is part of what is measured: a run without it would flatter cupbearer.
  if (s.accessLog !== undefined) {
    const lines = accessLines(s.accessLog);
    truncateSync(s.accessLog, 0);
    if (lines < r.requests - ACCESS_LOG_SLACK)
      problems.push(`access log has ${lines} lines for ${r.requests} requests (is it on?)`);
  }
  s.problems.push(...problems.map((p) => `${tag}${p}`));
  process.stdout.write(
    `${fmtRps(r.rps)} req/s, p99 ${fmtMs(r.p99Ms)}, ${fmtUs(run.cpuUs)} CPU/req${problems.length > 0 ? `  INVALID: ${problems.join("; ")}` : ""}\n`,
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Median of each figure over the rounds (one round: that run). */
function summarize(runs: Run[]): Run | undefined {
  const [first] = runs;
  if (first === undefined || runs.length === 1) return first;
  const sum = (f: (r: Run) => number): number => runs.reduce((acc, r) => acc + f(r), 0);
  const mid = (f: (r: Run) => number): number => median(runs.map(f));
  return {
    requests: sum((r) => r.requests),
    durationS: sum((r) => r.durationS),
    rps: mid((r) => r.rps),
    p50Ms: mid((r) => r.p50Ms),
    p99Ms: mid((r) => r.p99Ms),
    non2xx: sum((r) => r.non2xx),
    socketErrors: sum((r) => r.socketErrors),
    timeouts: sum((r) => r.timeouts),
    tokensUsed: sum((r) => r.tokensUsed),
    tokensWrapped: sum((r) => r.tokensWrapped),
    nextToken: NO_TOKEN,
    cpuUs: mid((r) => r.cpuUs),
    upstreamUs: mid((r) => r.upstreamUs),
    otherLoad: mid((r) => r.otherLoad),
  };
}

// ---------------------------------------------------------------------------------------------
// Output

function fmtRps(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
function fmtMs(n: number): string {
  return `${n.toFixed(2)}ms`;
}
function fmtRatio(n: number): string {
  return `${n.toFixed(2)}x`;
}
function fmtUs(n: number): string {
  return Number.isNaN(n) ? "-" : `${n.toFixed(1)}µs`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) =>
          i === 0 || i === r.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
        )
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function printTable(scenarios: Scenario[]): void {
  const floor = scenarios.find((s) => s.key === "floor")?.result;
  const head = [
    "scenario",
    "req/s",
    "p50",
    "p99",
    "CPU/req",
    "upstream CPU/req",
    "req/s ÷ floor",
    "CPU − floor",
    "p99 ÷ floor",
    "other load",
  ];
  // With several rounds, show every round's figures so the spread is visible next to the median.
  if (ROUNDS > 1) head.push("req/s per round", "CPU/req per round");
  const rows: string[][] = [[...head, "status"]];
  const vsFloor = (f: (floor: Run) => string): string => (floor === undefined ? "-" : f(floor));
  for (const s of scenarios) {
    const r = s.result;
    if (r === undefined) {
      const reason = s.skipped ?? `not measured: ${s.blocked ?? s.problems.join("; ")}`;
      rows.push([s.name, ...head.slice(1).map(() => "-"), reason]);
      continue;
    }
    const row = [
      s.name,
      fmtRps(r.rps),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      fmtUs(r.cpuUs),
      // For "direct" the upstream is the server measured.
      s.key === "direct" ? "-" : fmtUs(r.upstreamUs),
      vsFloor((f) => fmtRatio(r.rps / f.rps)),
      vsFloor((f) => `${r.cpuUs >= f.cpuUs ? "+" : ""}${fmtUs(r.cpuUs - f.cpuUs)}`),
      vsFloor((f) => fmtRatio(r.p99Ms / f.p99Ms)),
      Number.isNaN(r.otherLoad) ? "-" : `${Math.round(r.otherLoad * 100)}%`,
    ];
    if (ROUNDS > 1) {
      row.push(s.runs.map((run) => fmtRps(run.rps)).join(" / "));
      row.push(s.runs.map((run) => fmtUs(run.cpuUs)).join(" / "));
    }
    row.push(s.problems.length === 0 ? "ok" : `INVALID: ${s.problems.join("; ")}`);
    rows.push(row);
  }
  process.stdout.write(`\n${table(rows)}\n`);
  process.stdout.write(
    "CPU/req: utime + stime of the server's processes over the measured window, per request (cupbearer with\n" +
      "its access log on). other load: CPU used by processes outside the bench during the window, in\n" +
      "% of one core (a shared machine): the higher, the less the figures mean; a target compared\n" +
      `where it passed ${NOISY_LOAD * 100}% is marked NOISY.\n`,
  );
}

/** "pacedP99": the p99 of the paced pass (equal load); the others are of the saturated one. */
type Metric = "rps" | "p99" | "cpu" | "pacedP99";

/** Same columns for the paced pass: latency and CPU at the same offered load for every server. */
function printPacedTable(scenarios: Scenario[]): void {
  if (PACE_MS === 0) return;
  const floor = scenarios.find((s) => s.key === "floor")?.paced;
  const head = [
    "scenario",
    "req/s",
    "p50",
    "p50 − floor",
    "p99",
    "p99 ÷ floor",
    "CPU/req",
    "CPU − floor",
    "other load",
  ];
  if (ROUNDS > 1) head.push("p99 per round");
  const rows: string[][] = [head];
  for (const s of scenarios) {
    const r = s.paced;
    if (r === undefined) continue;
    const row = [
      s.name,
      fmtRps(r.rps),
      fmtMs(r.p50Ms),
      // What a caller waits longer, at a load every server keeps up with.
      floor === undefined ? "-" : `${r.p50Ms >= floor.p50Ms ? "+" : ""}${fmtMs(r.p50Ms - floor.p50Ms)}`,
      fmtMs(r.p99Ms),
      floor === undefined ? "-" : fmtRatio(r.p99Ms / floor.p99Ms),
      fmtUs(r.cpuUs),
      floor === undefined ? "-" : `${r.cpuUs >= floor.cpuUs ? "+" : ""}${fmtUs(r.cpuUs - floor.cpuUs)}`,
      Number.isNaN(r.otherLoad) ? "-" : `${Math.round(r.otherLoad * 100)}%`,
    ];
    if (ROUNDS > 1) row.push(s.pacedRuns.map((run) => fmtMs(run.p99Ms)).join(" / "));
    rows.push(row);
  }
  if (rows.length === 1) return;
  process.stdout.write(
    `\nAt equal load: each of the ${CONNECTIONS} connections pauses ${PACE_MS} ms between its requests ` +
      `(at most ${fmtRps(PACED_MAX_RPS)} req/s)\n${table(rows)}\n`,
  );
}

/** Other load on the server core above which a comparison is flagged as noisy. */
const NOISY_LOAD = 0.1;

function printChecks(scenarios: Scenario[]): void {
  const by = (k: Key): Scenario | undefined => scenarios.find((s) => s.key === k);
  const value = (r: Run, m: Metric): number => (m === "rps" ? r.rps : m === "cpu" ? r.cpuUs : r.p99Ms);
  const show = (r: Run, m: Metric): string =>
    m === "rps" ? `${fmtRps(r.rps)} req/s` : m === "cpu" ? fmtUs(r.cpuUs) : fmtMs(r.p99Ms);
  const resultOf = (s: Scenario | undefined, m: Metric): Run | undefined =>
    m === "pacedP99" ? s?.paced : s?.result;
  const runsOf = (s: Scenario, m: Metric): Run[] => (m === "pacedP99" ? s.pacedRuns : s.runs);
  const compare = (m: Metric, a: Run, b: Run): number =>
    m === "cpu" ? value(a, m) - value(b, m) : value(a, m) / value(b, m);
  /**
   * a against b: CPU as a difference in µs (a − b, compared with `bound`), the others as a ratio
   * (a / b, compared with `bound`); "info" prints the figure with no target. With rounds, the
   * figure is the median of each round's own comparison: the machine's speed drifts between
   * rounds (the floor read 55, 64 and 116 µs in one run), and a ratio of medians would set one
   * round's cupbearer against another round's floor.
   */
  const check = (
    label: string,
    a: Key,
    b: Key,
    metric: Metric,
    op: ">=" | "<=" | "info",
    bound = 1,
  ): void => {
    const sa = by(a);
    const sb = by(b);
    const ra = resultOf(sa, metric);
    const rb = resultOf(sb, metric);
    let verdict: string;
    let detail: string;
    if (sa === undefined || sb === undefined || ra === undefined || rb === undefined) {
      const missing = [sa, sb].find((s) => resultOf(s, metric) === undefined);
      // A missing comparison tool (nginx) can't be blamed on cupbearer; a missing cupbearer can.
      verdict = missing?.key === "nginx" ? "SKIP" : "FAIL";
      const why = missing?.skipped ?? missing?.blocked;
      detail = `${missing?.name ?? "?"} not measured${why !== undefined ? ` (${why})` : ""}`;
    } else if (sa.problems.length > 0 || sb.problems.length > 0) {
      verdict = "FAIL";
      detail = `invalid run: ${[...sa.problems, ...sb.problems].join("; ")}`;
    } else {
      const runsA = runsOf(sa, metric);
      const runsB = runsOf(sb, metric);
      const perRound =
        runsA.length > 1 && runsA.length === runsB.length
          ? runsA.map((r, i) => compare(metric, r, runsB[i] as Run))
          : undefined;
      const figure = perRound === undefined ? compare(metric, ra, rb) : median(perRound);
      const pass = op === ">=" ? figure >= bound : figure <= bound;
      verdict = op === "info" ? "INFO" : pass ? "PASS" : "FAIL";
      // Three decimals: a 0.696x must not read as the 0.70x it fails against.
      const fmt = (f: number): string =>
        metric === "cpu" ? `${f >= 0 ? "+" : ""}${f.toFixed(1)}µs` : `${f.toFixed(3)}x`;
      detail =
        perRound === undefined
          ? `${show(ra, metric)} vs ${show(rb, metric)}: ${fmt(figure)}`
          : `${fmt(figure)} (rounds ${perRound.map(fmt).join(" / ")}; medians ${show(ra, metric)} vs ${show(rb, metric)})`;
      // Another process on the server core moves req/s and p99 far more than any change here.
      const load = [ra.otherLoad, rb.otherLoad];
      if (load.some((l) => l > NOISY_LOAD)) {
        detail += `  (NOISY: other load ${load.map((l) => `${Math.round(l * 100)}%`).join(" / ")})`;
      }
    }
    process.stdout.write(`  [${verdict}] ${label}: ${detail}\n`);
  };
  process.stdout.write(
    `\nTargets (access log on${ROUNDS > 1 ? "; the median of the rounds' own comparisons" : ""}):\n`,
  );
  check("cache-hit CPU/req <= floor + 15µs", "cacheHit", "floor", "cpu", "<=", 15);
  check("cache-hit req/s >= 0.8x floor", "cacheHit", "floor", "rps", ">=", 0.8);
  check("new-token req/s >= 0.7x cache-hit", "newToken", "cacheHit", "rps", ">=", 0.7);
  check("S3 signed req/s >= 0.9x unsigned", "s3Signed", "s3Unsigned", "rps", ">=", 0.9);
  const cupbearerKeys = ["public", "cacheHit", "newToken", "s3Unsigned", "s3Signed"] as const;
  if (PACE_MS > 0) {
    for (const key of cupbearerKeys) {
      check(`${by(key)?.name ?? key} p99 <= floor p99, at equal load`, key, "floor", "pacedP99", "<=", 1);
    }
  }
  process.stdout.write("For reference:\n");
  // At saturation a closed-loop client's latency follows throughput: the req/s targets say it.
  for (const key of cupbearerKeys) {
    check(`${by(key)?.name ?? key} p99 vs floor p99, at saturation`, key, "floor", "p99", "info");
  }
  check("new-token CPU/req vs cache-hit", "newToken", "cacheHit", "cpu", "info");
  check("S3 signed CPU/req vs unsigned", "s3Signed", "s3Unsigned", "cpu", "info");
  check("nginx CPU/req vs floor", "nginx", "floor", "cpu", "info");
  check("nginx req/s vs floor", "nginx", "floor", "rps", "info");
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m?.[1] !== undefined) return m[1].trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? "unknown";
}

function loadgenDescription(): string {
  if (loadgenKind === "wrk" && wrkPath !== undefined) {
    const version = commandOutput(wrkPath, ["--version"]).split("\n")[0]?.split(" [")[0] ?? "wrk";
    return `${version} (-t1 -c${CONNECTIONS})`;
  }
  let version = "?";
  try {
    const pkg = JSON.parse(
      readFileSync(join(ROOT, "node_modules", "autocannon", "package.json"), "utf8"),
    ) as {
      version: string;
    };
    version = pkg.version;
  } catch {
    // keep "?"
  }
  return `autocannon ${version} (-c${CONNECTIONS}, 1 ms latency resolution; wrk not installed${process.env.BENCH_LOADGEN === "autocannon" ? " or BENCH_LOADGEN=autocannon" : ""})`;
}

/** The load average: on a shared machine, how much else was running. */
function loadDescription(): string {
  return `${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} (1, 5, 15 min load average on ${cpus().length} cores)`;
}

function printMachine(): void {
  const lines = [
    `cpu:        ${cpuModel()}`,
    `cores:      ${cpus().length} (usable by this process: ${availableParallelism()})`,
    `node:       ${process.version}`,
    `load gen:   ${loadgenDescription()}`,
    `pinning:    ${
      pinning === undefined
        ? "none (taskset missing or fewer than 2 usable cores): load generator and servers share the CPU"
        : `load generator on core ${pinning.loadCpu}, every server on core ${pinning.serverCpu} (taskset)`
    }`,
    `nginx:      ${nginxPath === undefined ? "not installed (scenario skipped)" : (commandOutput(nginxPath, ["-v"]).trim().split("/")[1] ?? "?")}`,
    `duration:   ${DURATION_S}s per scenario after ${WARMUP_S}s warm-up, ${CONNECTIONS} connections`,
    `load:       ${loadDescription()}`,
  ];
  process.stdout.write(`cupbearer bench\n${lines.map((l) => `  ${l}`).join("\n")}\n\n`);
}

// ---------------------------------------------------------------------------------------------
// Servers

function nginxConfig(dir: string, port: number, upstreamPort: number): string {
  // Keep-alive both ways and no request cap per connection, like the Node proxies.
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Object key of the S3 scenarios, inside the signed route's `private/{sub}/` prefix. */
const S3_UPSTREAM_PATH = `/bucket/private/${BENCH_SUB}/x`;
const S3_UNSIGNED_PATH = `/s3plain${S3_UPSTREAM_PATH}`;
const S3_SIGNED_PATH = `/s3${S3_UPSTREAM_PATH}`;

/** Mint `count` unique tokens from the issuer into a file (one per line); returns its path. */
async function mintTokens(issuer: Proc, issuerPort: number, count: number): Promise<string> {
  if (tmp === undefined) throw new Error("temp dir not created");
  const file = join(tmp, "tokens.txt");
  const pid = issuer.child.pid;
  // Minting is pure CPU and nothing is being measured now: let the issuer use every core, then
  // pin it back to the server core before the next measurement.
  const widen = pinning !== undefined && pid !== undefined;
  if (widen) commandOutput(pinning.taskset, ["-a", "-p", "-c", pinning.allCpus.join(","), String(pid)]);
  const started = performance.now();
  try {
    const res = await request(`http://127.0.0.1:${issuerPort}/mint?count=${count}`, { bodyTimeout: 60_000 });
    if (res.statusCode !== 200)
      throw new Error(`issuer /mint answered ${res.statusCode}: ${await res.body.text()}`);
    await pipeline(res.body, createWriteStream(file));
  } finally {
    if (widen) commandOutput(pinning.taskset, ["-a", "-p", "-c", String(pinning.serverCpu), String(pid)]);
  }
  const seconds = (performance.now() - started) / 1000;
  const data = readFileSync(file);
  let lines = 0;
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) lines++;
  if (lines !== count) throw new Error(`asked for ${count} tokens, got ${lines}`);
  process.stdout.write(
    `  minted ${count.toLocaleString("en-US")} unique RS256 tokens in ${seconds.toFixed(1)} s (${fmtRps(
      count / seconds,
    )}/s, ${widen ? `${pinning?.allCpus.length} cores` : "unpinned"})\n`,
  );
  return file;
}

/** Requests cupbearer must answer a certain way before its numbers mean anything. */
async function cupbearerPreflight(base: string, token: string): Promise<string[]> {
  const problems: string[] = [];
  const expect = async (
    what: string,
    path: string,
    want: (s: number) => boolean,
    headers: Record<string, string> = {},
  ): Promise<void> => {
    try {
      const { status } = await httpGet(`${base}${path}`, headers);
      if (!want(status)) problems.push(`${what} answered ${status}`);
    } catch (err) {
      problems.push(`${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const is2xx = (s: number) => s >= 200 && s < 300;
  // A broken signature of the same length: change one character well inside it (the last one of
  // a base64url RS256 signature carries padding bits, so changing it may change nothing).
  const at = token.lastIndexOf(".") + 10;
  const forged = `${token.slice(0, at)}${token[at] === "A" ? "B" : "A"}${token.slice(at + 1)}`;
  await expect("/api without a token", "/api/x", (s) => s === 401);
  await expect("/api with a forged token", "/api/x", (s) => s === 401, { authorization: `Bearer ${forged}` });
  await expect("/api with a valid token", "/api/x", is2xx, { authorization: `Bearer ${token}` });
  return problems;
}

/**
 * Proof that the S3 scenarios measure what they claim: both routes check tokens, the signed one
 * confines keys and its requests reach the upstream SigV4-signed with the pool's credentials, the
 * unsigned one's do not, and the identity pool is asked once (then cached).
 */
async function s3Preflight(
  base: string,
  upstreamPort: number,
  token: string,
  identity: IdentityService,
): Promise<{ unsigned: string[]; signed: string[] }> {
  const bearer = { authorization: `Bearer ${token}` };
  const is2xx = (s: number) => s >= 200 && s < 300;
  const request = async (
    problems: string[],
    what: string,
    path: string,
    want: (s: number) => boolean,
    headers: Record<string, string> = {},
  ): Promise<boolean> => {
    try {
      const { status } = await httpGet(`${base}${path}`, headers);
      if (want(status)) return true;
      problems.push(`${what} answered ${status}`);
    } catch (err) {
      problems.push(`${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    return false;
  };
  const arrived = async (problems: string[], what: string): Promise<UpstreamLastRequest> => {
    const last = await upstreamLast(upstreamPort);
    if (last.url !== S3_UPSTREAM_PATH) problems.push(`${what} reached the upstream as ${last.url}`);
    return last;
  };

  const unsigned: string[] = [];
  await request(unsigned, "unsigned S3 route without a token", S3_UNSIGNED_PATH, (s) => s === 401);
  if (await request(unsigned, "unsigned S3 route with a token", S3_UNSIGNED_PATH, is2xx, bearer)) {
    const last = await arrived(unsigned, "unsigned S3 GET");
    if (last.authScheme === "AWS4-HMAC-SHA256") unsigned.push("unsigned S3 GET arrived SigV4-signed");
  }

  const signed: string[] = [];
  await request(signed, "signed S3 route without a token", S3_SIGNED_PATH, (s) => s === 401);
  if (await request(signed, "signed S3 route with a token", S3_SIGNED_PATH, is2xx, bearer)) {
    const last = await arrived(signed, "signed S3 GET");
    const scope = /^([^/]+)\/\d{8}\/us-east-1\/s3\/aws4_request$/.exec(last.credential ?? "");
    if (last.authScheme !== "AWS4-HMAC-SHA256") {
      signed.push(`signed S3 GET arrived with authorization scheme ${last.authScheme ?? "(none)"}`);
    } else if (scope?.[1] !== BENCH_ACCESS_KEY_ID) {
      signed.push(`signed S3 GET has credential scope ${last.credential ?? "(none)"}, not the pool's`);
    }
    if (!last.hasSecurityToken) signed.push("signed S3 GET arrived without x-amz-security-token");
    if (last.contentSha256 !== "UNSIGNED-PAYLOAD") {
      signed.push(`signed S3 GET has x-amz-content-sha256 ${last.contentSha256 ?? "(none)"}`);
    }
  }
  // Confinement runs before signing: a key outside the caller's prefix never reaches the upstream.
  const before = await upstreamCount(upstreamPort);
  await request(
    signed,
    "signed S3 route outside the key prefix",
    "/s3/bucket/private/someone-else/x",
    (s) => s === 403,
    bearer,
  );
  if ((await upstreamCount(upstreamPort)) !== before)
    signed.push("a key outside the prefix reached the upstream");
  // A second request must come from the credentials cache.
  await request(signed, "second signed S3 GET", S3_SIGNED_PATH, is2xx, bearer);
  const calls = identity.counts();
  if (calls.GetId !== 1 || calls.GetCredentialsForIdentity !== 1) {
    signed.push(`identity pool calls after two requests: ${JSON.stringify(calls)} (want one of each)`);
  }
  return { unsigned, signed };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  printMachine();
  tmp = mkdtempSync(join(tmpdir(), "cupbearer-bench-"));
  const [upstreamPort, passPort, nginxPort, issuerPort, cbPort, cbAdminPort] = await freePorts(6);
  identityService = await startIdentityService();
  const identity = identityService;
  const node = process.execPath;
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;

  process.stdout.write("Starting servers\n");
  const upstream = startServer("upstream", [node, join(HERE, "upstream.js"), String(upstreamPort)]);
  // BENCH_PROFILE=DIR writes V8 CPU profiles of the floor and of cupbearer there when they exit.
  const profile = process.env.BENCH_PROFILE
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  const floor = startServer("floor", [
    node,
    ...profile,
    join(HERE, "passthrough.js"),
    String(passPort),
    upstreamUrl,
  ]);
  const issuer = startServer("issuer", [node, join(HERE, "issuer.js"), String(issuerPort)]);
  let nginx: Proc | undefined;
  if (nginxPath !== undefined) {
    const dir = join(tmp, "nginx");
    mkdirSync(dir);
    // Run as root, nginx's worker drops to an unprivileged user that must reach its temp paths.
    chmodSync(tmp, 0o755);
    chmodSync(dir, 0o755);
    const conf = join(dir, "nginx.conf");
    writeFileSync(conf, nginxConfig(dir, nginxPort, upstreamPort));
    nginx = startServer("nginx", [nginxPath, "-p", `${dir}/`, "-e", `${dir}/error.log`, "-c", conf]);
  }
  await waitHttp(upstream, `${upstreamUrl}${UPSTREAM_COUNT_PATH}`, 10_000);
  await waitHttp(floor, `http://127.0.0.1:${passPort}/x`, 10_000);
  await waitHttp(issuer, `http://127.0.0.1:${issuerPort}/.well-known/jwks.json`, 10_000);
  let nginxDown: string | undefined;
  if (nginx !== undefined) {
    try {
      await waitHttp(nginx, `http://127.0.0.1:${nginxPort}/x`, 10_000);
    } catch (err) {
      // Only a reference point: report and go on without it.
      nginxDown = "nginx failed to start";
      process.stdout.write(`  ${nginxDown}: ${err instanceof Error ? err.message : String(err)}\n`);
      signalProc(nginx, "SIGKILL");
      nginx = undefined;
    }
  }
  process.stdout.write(
    `  upstream :${upstreamPort}, floor :${passPort}, issuer :${issuerPort}${nginx !== undefined ? `, nginx :${nginxPort}` : ""}\n`,
  );

  // Cupbearer: skipped (clearly) when not built yet, reported when it doesn't come up.
  let cupbearerDown: string | undefined;
  let cb: Proc | undefined;
  if (!existsSync(CLI)) {
    cupbearerDown = `cupbearer not built (${CLI} missing)`;
    process.stdout.write(`  SKIPPING cupbearer scenarios: ${cupbearerDown}\n`);
  } else {
    const config = join(tmp, "cupbearer.yaml");
    writeFileSync(
      config,
      cupbearerConfig({
        port: cbPort,
        admin: cbAdminPort,
        issuer: issuerPort,
        upstream: upstreamPort,
        identity: identity.endpoint,
      }),
    );
    cb = startServer("cupbearer", [node, ...profile, CLI, "--config", config]);
    try {
      await waitHttp(cb, `http://127.0.0.1:${cbAdminPort}/readyz`, READY_TIMEOUT_MS, 200);
      process.stdout.write(`  cupbearer :${cbPort} (admin :${cbAdminPort}) ready\n`);
    } catch (err) {
      cupbearerDown = "cupbearer did not become ready";
      process.stdout.write(
        `  cupbearer FAILED to start: ${err instanceof Error ? err.message : String(err)}\n`,
      );
    }
  }

  const cbBase = `http://127.0.0.1:${cbPort}`;
  const scenario = (key: Key, name: string, server: Proc | undefined, url?: string): Scenario => ({
    key,
    name,
    ...(server !== undefined ? { server } : {}),
    ...(url !== undefined ? { target: { url } } : {}),
    ...(server !== undefined && server === cb && server.log !== undefined ? { accessLog: server.log } : {}),
    problems: [],
    runs: [],
    pacedRuns: [],
    nextToken: 0,
  });
  const direct = scenario("direct", "upstream direct", upstream, `${upstreamUrl}/x`);
  const floorScenario = scenario(
    "floor",
    "floor (minimal undici proxy)",
    floor,
    `http://127.0.0.1:${passPort}/x`,
  );
  const nginxScenario = scenario("nginx", "nginx", nginx, `http://127.0.0.1:${nginxPort}/x`);
  const pub = scenario("public", "cupbearer /public", cb, `${cbBase}/public/x`);
  const cacheHit = scenario("cacheHit", "cupbearer /api cache hit", cb);
  const newToken = scenario("newToken", "cupbearer /api new token", cb);
  const s3Unsigned = scenario("s3Unsigned", "cupbearer S3 GET, unsigned", cb);
  const s3Signed = scenario("s3Signed", "cupbearer S3 GET, signed", cb);
  const scenarios = [direct, floorScenario, nginxScenario, pub, cacheHit, newToken, s3Unsigned, s3Signed];
  if (nginx === undefined) nginxScenario.skipped = nginxDown ?? "nginx not installed";
  const only = process.env.BENCH_ONLY?.split(",").map((k) => k.trim());
  if (only !== undefined) {
    for (const s of scenarios) if (!only.includes(s.key)) s.skipped ??= "not in BENCH_ONLY";
  }

  if (cupbearerDown !== undefined) {
    for (const s of [pub, cacheHit, newToken, s3Unsigned, s3Signed]) s.skipped = cupbearerDown;
  } else {
    const token = (await httpGet(`http://127.0.0.1:${issuerPort}/token`)).body;
    const bearer = { authorization: `Bearer ${token}` };
    cacheHit.target = { url: `${cbBase}/api/x`, headers: bearer };
    const preflight = await cupbearerPreflight(cbBase, token);
    if (preflight.length > 0) {
      process.stdout.write(`  cupbearer preflight problems: ${preflight.join("; ")}\n`);
      cacheHit.blocked = preflight.join("; ");
      newToken.blocked = cacheHit.blocked;
    }
    // Identity pools take ID tokens: the AWS route refuses access tokens.
    const idToken = (await httpGet(`http://127.0.0.1:${issuerPort}/token?use=id`)).body;
    const idBearer = { authorization: `Bearer ${idToken}` };
    s3Unsigned.target = { url: `${cbBase}${S3_UNSIGNED_PATH}`, headers: idBearer };
    s3Signed.target = { url: `${cbBase}${S3_SIGNED_PATH}`, headers: idBearer };
    const s3 = await s3Preflight(cbBase, upstreamPort, idToken, identity);
    // The pair only means something together: a problem with either blocks both.
    const s3Problems = [...s3.unsigned, ...s3.signed];
    if (s3Problems.length > 0) {
      process.stdout.write(`  cupbearer S3 preflight problems: ${s3Problems.join("; ")}\n`);
      s3Unsigned.blocked = s3Problems.join("; ");
      s3Signed.blocked = s3Unsigned.blocked;
    }
  }
  const identityStarted = Date.now();

  process.stdout.write(`\nMeasuring${ROUNDS > 1 ? ` (${ROUNDS} rounds, median reported)` : ""}\n`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of scenarios) {
      if (s === newToken && s.target === undefined && s.skipped === undefined && s.blocked === undefined) {
        // Enough unique tokens for every warm-up and run at the cache-hit rate (an upper bound for
        // the new-token rate) plus margin; running out anyway is detected and reported.
        const rate = cacheHit.runs[0]?.rps ?? floorScenario.runs[0]?.rps ?? 20_000;
        const count = Math.min(
          5_000_000,
          Math.ceil(
            TOKENS_OVERRIDE ??
              (rate + PACED_MAX_RPS) * ROUNDS * (WARMUP_S + DURATION_S) * 1.3 + 8 * CONNECTIONS,
          ),
        );
        const file = await mintTokens(issuer, issuerPort, count);
        s.target = { url: `${cbBase}/api/x`, tokenFile: file };
      }
      await measure(s, upstream, upstreamPort, round);
    }
    if (PACE_MS > 0) for (const s of scenarios) await measure(s, upstream, upstreamPort, round, PACE_MS);
  }
  // Credentials last an hour and are refreshed a minute ahead: more calls than that means the
  // signed scenario did not measure the cached path.
  if (s3Signed.runs.length > 0) {
    const calls = identity.counts();
    const allowed = 1 + Math.floor((Date.now() - identityStarted) / (55 * 60_000));
    if ((calls.GetId ?? 0) > 1 || (calls.GetCredentialsForIdentity ?? 0) > allowed) {
      s3Signed.problems.push(`identity pool asked ${JSON.stringify(calls)}: credentials not cached`);
    }
  }
  for (const s of scenarios) {
    const summary = summarize(s.runs);
    if (summary !== undefined) s.result = summary;
    const paced = summarize(s.pacedRuns);
    if (paced !== undefined) s.paced = paced;
  }

  printTable(scenarios);
  printPacedTable(scenarios);
  printChecks(scenarios);
  process.stdout.write(`\nload at the end: ${loadDescription()}\n`);
}

main()
  .catch((err: unknown) => {
    if (stopping) return;
    process.stderr.write(
      `\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  })
  .finally(() => cleanup().finally(() => process.exit()));
