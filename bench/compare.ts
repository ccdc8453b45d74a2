// Paired comparison of cupbearer builds: `npm run bench:compare -- NAME=DIR [NAME=DIR ...]`, where
// each DIR holds a built cupbearer (`npm run build` in a checkout or `git worktree` of the commit to
// compare; `.` is this one).
//
// `npm run bench` measures each scenario in a window of its own, and on this shared VM the same
// tree reads 20-35 µs apart between windows: too coarse to see a change of a few µs. Here the floor
// and COMPARE_COPIES processes of each build serve at once (all on the server core, as in
// `npm run bench`), and each round loads each process for one second in turn with wrk on the load
// core, each round starting one process further on: every build is measured in nearly the same
// moment of the machine and in every place of the order (a fixed order's first and last places
// read a few µs high). The differences taken within a round, each build minus the floor and minus
// the first build, are far steadier than figures of separate runs.
//
// Environment:
//   COMPARE_ROUNDS         rounds (default 30)
//   COMPARE_PATH           the path loaded on cupbearer (default /api/x: the cached-token path;
//                          /public/x is the public route; a path under /s3/ or /s3plain/ is the S3
//                          GET signed or unsigned, with an ID token, e.g. /s3/bucket/private/<sub>/x
//                          where <sub> is bench/shared.ts's BENCH_SUB)
//   COMPARE_UPSTREAM_CORE  "server" (default, as `npm run bench`) or "load": the upstream beside wrk,
//                          so that the server core runs only the proxy measured
//   COMPARE_COPIES         processes per build (default 2), started interleaved: two processes of
//                          one build can read 2-4 µs apart for a whole run (the first started often
//                          reads high), so a build's figure is the mean of its copies in each round
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "../demo/cognito-emulator.js";
import { startIdentityService } from "./aws-identity.js";
import { cupbearerConfig } from "./config.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROUNDS = Number(process.env.COMPARE_ROUNDS ?? 30);
const PATH = process.env.COMPARE_PATH ?? "/api/x";
const UPSTREAM_CORE = process.env.COMPARE_UPSTREAM_CORE === "load" ? "load" : "server";
const COPIES = Math.max(1, Number(process.env.COMPARE_COPIES ?? 2));
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

interface Server {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly cpuUs: number[];
  readonly rps: number[];
}

/** A build's processes, and its figure per round: the mean of its copies'. */
interface Measured {
  readonly name: string;
  readonly copies: Server[];
}

const perRound = (m: Measured, of: (s: Server) => number[]): number[] =>
  (m.copies[0] as Server).cpuUs.map((_, i) => {
    const values = m.copies.map((s) => of(s)[i] as number);
    return values.reduce((a, b) => a + b, 0) / values.length;
  });

const builds = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf("=");
  const root = resolve(arg.slice(at + 1));
  if (at < 1 || !existsSync(join(root, "dist/src/cli.js"))) {
    throw new Error(`${arg}: want NAME=DIR, DIR holding dist/src/cli.js (run npm run build there)`);
  }
  return { name: arg.slice(0, at), root };
});
if (builds.length === 0) throw new Error("usage: compare.js NAME=DIR [NAME=DIR ...]");
for (const tool of ["wrk", "taskset"]) {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`]);
  } catch {
    throw new Error(`${tool} is needed`);
  }
}
if (availableParallelism() < 2) throw new Error("two cores are needed: one loads, one serves");

const LOAD_CORE = "0";
const SERVER_CORE = "1";
const children: ChildProcess[] = [];
const tmp = mkdtempSync(join(tmpdir(), "cupbearer-compare-"));
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});

/** A process pinned to `core`; its stdout (cupbearer's access log) to the file `log`, as a deployment's would go. */
function start(core: string, argv: string[], log?: string): ChildProcess {
  const out = log === undefined ? "ignore" : openSync(log, "w");
  const child = spawn("taskset", ["-c", core, ...argv], { stdio: ["ignore", out, "inherit"] });
  children.push(child);
  return child;
}

/** utime + stime of a process, in µs. */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/** Requests wrk completed in `seconds` against `url` (any answer not 2xx fails the comparison). */
function load(url: string, seconds: number, token: string): number {
  const out = execFileSync("taskset", [
    "-c",
    LOAD_CORE,
    "wrk",
    "-t1",
    "-c32",
    `-d${seconds}s`,
    "-H",
    `authorization: Bearer ${token}`,
    url,
  ]).toString();
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const done = /(\d+) requests in/.exec(out);
  if (bad !== null || done === null) throw new Error(`${url}: ${out}`);
  return Number(done[1]);
}

async function waitFor(url: string): Promise<void> {
  for (const until = Date.now() + 20_000; Date.now() < until; ) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within 20 s`);
}

const median = (values: number[]): number => quantile(values, 0.5);
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.round((sorted.length - 1) * q)] ?? Number.NaN;
}

async function main(): Promise<void> {
  // Drawn together: ports drawn one after another may repeat.
  const [upstreamPort, issuerPort, floorPort, ...ports] = (await freePorts<number>(
    3 + 2 * builds.length * COPIES,
  )) as number[] as [number, number, number, ...number[]];
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const node = process.execPath;
  start(UPSTREAM_CORE === "load" ? LOAD_CORE : SERVER_CORE, [
    node,
    join(HERE, "upstream.js"),
    String(upstreamPort),
  ]);
  start(SERVER_CORE, [node, join(HERE, "issuer.js"), String(issuerPort)]);
  const floor: Measured = {
    name: "floor",
    copies: [
      {
        name: "floor",
        child: start(SERVER_CORE, [node, join(HERE, "passthrough.js"), String(floorPort), upstreamUrl]),
        url: `http://127.0.0.1:${floorPort}/x`,
        cpuUs: [],
        rps: [],
      },
    ],
  };
  const measured: Measured[] = [floor, ...builds.map(({ name }) => ({ name, copies: [] as Server[] }))];
  // The signed S3 route's identity pool: each process asks it once, then signs from its cache.
  const identity = await startIdentityService();
  // Copies started interleaved (a#1, b#1, a#2, b#2): no build gets all the first or last starts.
  const starts = Array.from({ length: COPIES }, (_, copy) =>
    builds.map((build, b) => ({ ...build, b, copy })),
  );
  starts.flat().forEach(({ name, root, b, copy }, i) => {
    const port = ports[2 * i] as number;
    const config = join(tmp, `${name}-${copy + 1}.yaml`);
    writeFileSync(
      config,
      cupbearerConfig({
        port,
        admin: ports[2 * i + 1] as number,
        issuer: issuerPort,
        upstream: upstreamPort,
        identity: identity.endpoint,
      }),
    );
    const argv = [node, join(root, "dist/src/cli.js"), "--config", config];
    (measured[b + 1] as Measured).copies.push({
      name: `${name}#${copy + 1}`,
      child: start(SERVER_CORE, argv, join(tmp, `${name}-${copy + 1}.log`)),
      url: `http://127.0.0.1:${port}${PATH}`,
      cpuUs: [],
      rps: [],
    });
  });
  const servers = measured.flatMap((m) => m.copies);
  await waitFor(`${upstreamUrl}/x`);
  await waitFor(`http://127.0.0.1:${issuerPort}/.well-known/jwks.json`);
  for (const s of servers) await waitFor(s.url);
  // Identity pools take ID tokens: the S3 routes get one, the others the access token /api asks for.
  const use = /^\/s3(plain)?\//.test(PATH) ? "?use=id" : "";
  const token = await (await fetch(`http://127.0.0.1:${issuerPort}/token${use}`)).text();

  // One request each first, awaited: the S3 route's identity pool answers from this process,
  // which wrk's synchronous runs block, so the credentials must be cached before any of them.
  for (const s of servers) {
    const status = (await fetch(s.url, { headers: { authorization: `Bearer ${token}` } })).status;
    if (status !== 200) throw new Error(`${s.url}: ${status}`);
  }
  for (const s of servers) load(s.url, 2, token); // warm-up: JIT and connection pools
  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts one server further on: every server takes every place in the order
    // equally often (the first and last places of a fixed order read a few µs high).
    const start = round % servers.length;
    for (const s of [...servers.slice(start), ...servers.slice(0, start)]) {
      const pid = s.child.pid as number;
      const before = cpuUs(pid);
      const requests = load(s.url, 1, token);
      s.cpuUs.push((cpuUs(pid) - before) / requests);
      s.rps.push(requests);
    }
    process.stdout.write(`\rround ${round + 1}/${ROUNDS}`);
  }
  const first = measured[1] as Measured;
  const cpu = new Map(measured.map((m) => [m, perRound(m, (s) => s.cpuUs)]));
  const paired = (m: Measured, base: Measured) => {
    const theirs = cpu.get(base) as number[];
    const d = (cpu.get(m) as number[]).map((v, i) => v - (theirs[i] as number));
    return `${median(d).toFixed(1)} (${quantile(d, 0.25).toFixed(1)}..${quantile(d, 0.75).toFixed(1)})`;
  };
  process.stdout.write(
    `\n${ROUNDS} rounds of 1 s, ${PATH}, upstream on the ${UPSTREAM_CORE} core, ${COPIES} processes a build;` +
      " CPU µs per request, medians, and the paired differences (within each round) with their IQR:\n",
  );
  const floorRps = perRound(floor, (s) => s.rps);
  for (const m of measured) {
    const ratio = median(perRound(m, (s) => s.rps).map((r, i) => r / (floorRps[i] as number)));
    const copies =
      m.copies.length > 1 ? `  copies ${m.copies.map((s) => median(s.cpuUs).toFixed(1)).join(" / ")} µs` : "";
    process.stdout.write(
      `${m.name.padEnd(14)} ${median(cpu.get(m) as number[])
        .toFixed(1)
        .padStart(6)} µs  ${ratio.toFixed(3)}x the floor's req/s` +
        `  − floor ${paired(m, floor)}  − ${first.name} ${paired(m, first)}${copies}\n`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
