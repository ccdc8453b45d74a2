// Bench upstream: a plain node:http server that answers every request 200 with a small JSON body.
// Usage: node dist/bench/upstream.js PORT
//
// It also counts the requests it served, readable at GET /__bench/count (not counted itself), so the
// orchestrator can check that every 2xx a proxy returned really went through to the upstream.
// GET /__bench/last describes the last request served (no signature check: that's the tests' job),
// so the orchestrator can prove a signed route's requests arrive SigV4-signed and the others don't.
import { createServer, type IncomingHttpHeaders } from "node:http";
import { UPSTREAM_COUNT_PATH, UPSTREAM_LAST_PATH, type UpstreamLastRequest } from "./shared.js";

const BODY = Buffer.from(JSON.stringify({ ok: true, service: "bench-upstream" }));

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write("usage: upstream.js PORT\n");
  process.exit(2);
}

let served = 0;
// Kept by reference (two assignments per request); described only when asked.
let lastMethod = "";
let lastUrl = "";
let lastHeaders: IncomingHttpHeaders = {};

function describeLast(): UpstreamLastRequest {
  const auth = lastHeaders.authorization;
  const sha = lastHeaders["x-amz-content-sha256"];
  return {
    method: lastMethod,
    url: lastUrl,
    authScheme: auth === undefined ? null : (auth.split(" ")[0] ?? ""),
    credential: auth === undefined ? null : (/Credential=([^,\s]+)/.exec(auth)?.[1] ?? null),
    signedHeaders: auth === undefined ? null : (/SignedHeaders=([^,\s]+)/.exec(auth)?.[1] ?? null),
    hasSecurityToken: lastHeaders["x-amz-security-token"] !== undefined,
    contentSha256: typeof sha === "string" ? sha : null,
  };
}

const server = createServer((req, res) => {
  if (req.url === UPSTREAM_COUNT_PATH) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ served }));
    return;
  }
  if (req.url === UPSTREAM_LAST_PATH) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(describeLast()));
    return;
  }
  served++;
  lastMethod = req.method ?? "";
  lastUrl = req.url ?? "";
  lastHeaders = req.headers;
  // Drain any request body so the keep-alive connection stays usable.
  req.resume();
  res.writeHead(200, { "content-type": "application/json", "content-length": BODY.length });
  res.end(BODY);
});

// Long keep-alive so neither the load generator nor a proxy pool sees the upstream close sockets.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`upstream listening on 127.0.0.1:${port}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
