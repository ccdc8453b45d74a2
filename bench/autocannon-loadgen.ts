// Load generator used when wrk is not installed: runs autocannon in its own process (so it can be
// pinned to a core like wrk) and prints one JSON line with the figures run.ts needs.
// Usage: node dist/bench/autocannon-loadgen.js '<LoadgenJob JSON>'
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** What run.ts asks for; mirrors the wrk invocation. */
export interface LoadgenJob {
  url: string;
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
  /** File with one token per line; each request then carries the next unused one. */
  tokenFile?: string;
  tokenOffset?: number;
  /** Requests per second of each connection (the paced pass); absent: as fast as answers come. */
  connectionRate?: number;
}

/** What this process prints (one JSON line on stdout). */
export interface LoadgenOutput {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCounts: Record<string, number>;
  tokensUsed: number;
  tokensWrapped: number;
}

// autocannon ships no type declarations: describe only the part used here.
interface AcRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
}
interface AcOptions {
  url: string;
  connections: number;
  duration: number;
  connectionRate?: number;
  headers?: Record<string, string>;
  requests?: Array<AcRequest & { setupRequest?: (req: AcRequest) => AcRequest }>;
}
interface AcResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  "1xx": number;
  "2xx": number;
  "3xx": number;
  "4xx": number;
  "5xx": number;
  latency: { p50: number; p99: number };
  requests: { total: number; average: number };
}
type Autocannon = (opts: AcOptions) => Promise<AcResult>;

const require = createRequire(import.meta.url);
const autocannon = require("autocannon") as Autocannon;

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error("usage: autocannon-loadgen.js '<job json>'");
  const job = JSON.parse(arg) as LoadgenJob;

  const opts: AcOptions = {
    url: job.url,
    connections: job.connections,
    duration: job.durationS,
    headers: job.headers ?? {},
    ...(job.connectionRate !== undefined ? { connectionRate: job.connectionRate } : {}),
  };

  let next = job.tokenOffset ?? 0;
  let used = 0;
  let wrapped = 0;
  if (job.tokenFile !== undefined) {
    const tokens = readFileSync(job.tokenFile, "utf8")
      .split("\n")
      .filter((t) => t !== "");
    if (tokens.length === 0) throw new Error(`no tokens in ${job.tokenFile}`);
    const path = new URL(job.url).pathname;
    opts.requests = [
      {
        method: "GET",
        path,
        // Called once per request built: hand out the next token, never one seen before (unless we run
        // out, which is counted and reported so the result can be discarded).
        setupRequest: (req) => {
          if (next >= tokens.length) {
            next = 0;
            wrapped++;
          }
          const token = tokens[next++] as string;
          used++;
          return { ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } };
        },
      },
    ];
  }

  const r = await autocannon(opts);
  const out: LoadgenOutput = {
    requests: r.requests.total,
    durationS: r.duration,
    rps: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCounts: { "1xx": r["1xx"], "2xx": r["2xx"], "3xx": r["3xx"], "4xx": r["4xx"], "5xx": r["5xx"] },
    tokensUsed: used,
    tokensWrapped: wrapped,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`autocannon-loadgen: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
