// Bench passthrough: the minimal undici reverse proxy with no auth — the floor any Node proxy pays.
// Usage: node dist/bench/passthrough.js PORT UPSTREAM_ORIGIN
//
// Deliberately idiomatic and unoptimised: node:http server, one undici Pool, pool.request + pipe.
import { createServer } from "node:http";
import { pipeline } from "node:stream";
import { Pool } from "undici";
// The same hop-by-hop list (RFC 9110 §7.6.1) cupbearer drops; host is dropped too so undici sets the upstream's.
import { HOP_BY_HOP } from "../src/core/headers.js";

const port = Number(process.argv[2]);
const upstream = process.argv[3];
if (!Number.isInteger(port) || port <= 0 || port > 65535 || upstream === undefined) {
  process.stderr.write("usage: passthrough.js PORT UPSTREAM_ORIGIN\n");
  process.exit(2);
}

type Headers = Record<string, string | string[] | undefined>;

function stripHopByHop(headers: Headers, dropHost: boolean): Record<string, string | string[]> {
  // Headers named in `Connection` are hop-by-hop as well.
  const listed = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== ""),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    if (dropHost && name === "host") continue;
    out[name] = value;
  }
  return out;
}

const pool = new Pool(upstream);

const server = createServer((req, res) => {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"]) > 0;
  pool
    .request({
      method: req.method ?? "GET",
      path: req.url ?? "/",
      headers: stripHopByHop(req.headers, true),
      body: hasBody ? req : null,
    })
    .then(
      ({ statusCode, headers, body }) => {
        res.writeHead(statusCode, stripHopByHop(headers, false));
        // pipeline destroys the upstream body if the client goes away mid-response.
        pipeline(body, res, () => {});
      },
      () => {
        if (res.headersSent) {
          res.destroy();
        } else {
          res.writeHead(502, { "content-type": "text/plain" });
          res.end("bad gateway\n");
        }
      },
    );
});

server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`passthrough listening on 127.0.0.1:${port} -> ${upstream}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    void pool.destroy().finally(() => process.exit(0));
  });
}
