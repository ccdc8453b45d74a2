// S3 PUT benchmark: 1 MiB bodies in aws-chunked form (STREAMING-UNSIGNED-PAYLOAD-TRAILER with a
// CRC32 trailer, what boto3 and the JavaScript SDK send), through cupbearer's signed S3 route
// and through the same route shape without AWS (plain passthrough). Prints the throughput of
// each, their ratio (target: signed >= 0.9x) and cupbearer's RSS before and after each (target:
// flat: bodies stream, never held).
// Usage: npm run build && node dist/bench/s3-put.js   (run by `npm run bench` after run.js)
//
// Environment: BENCH_DURATION seconds per side (default 10), BENCH_PUT_CONCURRENCY (default 8).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { crc32 } from "node:zlib";
import { Pool, request } from "undici";
import { freePorts } from "../demo/cognito-emulator.js";
import { BENCH_IDENTITY_POOL_ID, startIdentityService } from "./aws-identity.js";
import { BENCH_CLIENT_ID, BENCH_SUB } from "./shared.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HERE = fileURLToPath(new URL(".", import.meta.url));
const DURATION_S = Math.max(1, Number(process.env.BENCH_DURATION ?? 10) || 10);
const CONCURRENCY = Math.max(1, Number(process.env.BENCH_PUT_CONCURRENCY ?? 8) || 8);
const BODY_BYTES = 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
const KEY_PATH = `/bucket/private/${BENCH_SUB}/put.bin`;

/** The upstream: reads each body whole, then answers 200 with an ETag. */
const SINK = `
const port = Number(process.argv[1]);
require("node:http").createServer((req, res) => {
  req.on("data", () => {}).on("end", () => res.writeHead(200, { etag: '"bench"', "content-length": "0" }).end());
}).listen(port, "127.0.0.1");
`;

/** The body as an SDK frames it: 64 KiB chunks, then the CRC32 trailer. */
function awsChunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += CHUNK_BYTES) {
    const piece = data.subarray(at, at + CHUNK_BYTES);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n"));
  }
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE(crc32(data));
  parts.push(Buffer.from(`0\r\nx-amz-checksum-crc32:${sum.toString("base64")}\r\n\r\n`));
  return Buffer.concat(parts);
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

async function waitOk(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await request(url);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 in time`);
}

/** PUTs for `seconds` from `CONCURRENCY` loops; the count of 2xx answers (anything else throws). */
async function load(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  seconds: number,
) {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const loop = async () => {
    while (performance.now() < end) {
      const res = await pool.request({ method: "PUT", path, headers, body });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${path} answered ${res.statusCode}`);
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return done;
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), "cupbearer-s3put-"));
  const children: ChildProcess[] = [];
  const identity = await startIdentityService();
  try {
    const [upstreamPort, issuerPort, port, adminPort] = await freePorts(4);
    const start = (file: string, args: string[]) => {
      const child = spawn(process.execPath, [file, ...args], {
        cwd: ROOT,
        stdio: ["ignore", "ignore", process.env.BENCH_DEBUG ? "inherit" : "ignore"],
      });
      children.push(child);
      return child;
    };
    // Like S3, the sink answers once it has the whole body (bench/upstream.js answers at once).
    start("-e", [SINK, String(upstreamPort)]);
    start(join(HERE, "issuer.js"), [String(issuerPort)]);
    const config = join(tmp, "config.yaml");
    writeFileSync(
      config,
      `listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
log: { level: warn }
issuers:
  - { id: bench, issuer: "http://127.0.0.1:${issuerPort}", jwksUri: "http://127.0.0.1:${issuerPort}/.well-known/jwks.json", clientIds: [${BENCH_CLIENT_ID}] }
identityPools:
  - { id: bench, identityPoolId: "${BENCH_IDENTITY_POOL_ID}", region: us-east-1, endpoint: "${identity.endpoint}" }
routes:
  - id: s3plain
    match: { pathPrefix: /s3plain }
    stripPrefix: true
    upstream: http://127.0.0.1:${upstreamPort}
    auth: { tokenUse: id }
  - id: s3
    match: { pathPrefix: /s3 }
    stripPrefix: true
    upstream:
      url: http://127.0.0.1:${upstreamPort}
      aws: { service: s3, region: us-east-1, identityPool: bench }
      s3: { keyPrefix: "private/{sub}/" }
    auth: { tokenUse: id }
`,
    );
    const cupbearer = start(join(ROOT, "dist", "src", "cli.js"), ["--config", config]);
    await waitOk(`http://127.0.0.1:${issuerPort}/.well-known/jwks.json`);
    await waitOk(`http://127.0.0.1:${adminPort}/readyz`);
    const token = await (await request(`http://127.0.0.1:${issuerPort}/token?use=id`)).body.text();
    const data = Buffer.alloc(BODY_BYTES, 0x61);
    const body = awsChunked(data);
    const headers = {
      authorization: `Bearer ${token}`,
      "content-encoding": "aws-chunked",
      "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      "x-amz-decoded-content-length": String(data.length),
      "x-amz-trailer": "x-amz-checksum-crc32",
      "content-length": String(body.length),
    };
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });
    const pid = cupbearer.pid as number;
    const results: Array<{ name: string; rps: number; rssBefore: number; rssAfter: number }> = [];
    for (const [name, path] of [
      ["unsigned passthrough", `/s3plain${KEY_PATH}`],
      ["signed (aws-chunked kept)", `/s3${KEY_PATH}`],
    ] as const) {
      await load(pool, path, headers, body, 1); // warm-up
      const rssBefore = rssBytes(pid);
      const count = await load(pool, path, headers, body, DURATION_S);
      results.push({ name, rps: count / DURATION_S, rssBefore, rssAfter: rssBytes(pid) });
    }
    await pool.close();
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    process.stdout.write(
      `\nS3 PUT, 1 MiB aws-chunked bodies, ${CONCURRENCY} concurrent, ${DURATION_S} s each\n`,
    );
    for (const r of results) {
      process.stdout.write(
        `  ${r.name.padEnd(28)} ${r.rps.toFixed(1).padStart(8)} req/s  ${(r.rps * (BODY_BYTES / 1024 / 1024)).toFixed(1).padStart(7)} MiB/s  RSS ${mib(r.rssBefore)} -> ${mib(r.rssAfter)}\n`,
      );
    }
    const [plain, signed] = results;
    if (plain !== undefined && signed !== undefined) {
      const ratio = signed.rps / plain.rps;
      const growth = (signed.rssAfter - plain.rssBefore) / plain.rssBefore;
      process.stdout.write(
        `  signed / unsigned: ${ratio.toFixed(2)}x (target >= 0.9x: ${ratio >= 0.9 ? "PASS" : "FAIL"}); ` +
          `RSS growth ${(growth * 100).toFixed(1)}% (target flat, < 10%: ${growth < 0.1 ? "PASS" : "FAIL"})\n`,
      );
    }
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await identity.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
