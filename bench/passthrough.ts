// Bench floor: the leanest undici reverse proxy we could write, no auth, no logs, no metrics.
// Usage: node dist/bench/passthrough.js PORT UPSTREAM_ORIGIN
//
// node:http server, one undici Pool of 64 keep-alive connections, and a handler of undici's dispatch
// API writing the answer straight into the client's response (no stream in between); hop-by-hop
// headers dropped both ways. Of the variants measured (docs/benchmark.md), the cheapest per request.
import { createServer, type ServerResponse } from "node:http";
import { type Dispatcher, Pool } from "undici";
// The hop-by-hop list (RFC 9110 §7.6.1) cupbearer drops; host is dropped too so undici sets the upstream's.
import { HOP_BY_HOP } from "../src/core/headers.js";

const port = Number(process.argv[2]);
const upstream = process.argv[3];
if (!Number.isInteger(port) || port <= 0 || port > 65535 || upstream === undefined) {
  process.stderr.write("usage: passthrough.js PORT UPSTREAM_ORIGIN\n");
  process.exit(2);
}

/** Names a Connection header lists are hop-by-hop too (rare: looked at only when one is present). */
const listedIn = (connection: unknown, name: string): boolean =>
  connection !== undefined && String(connection).toLowerCase().includes(name);

class Relay implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | undefined;
  constructor(private readonly res: ServerResponse) {}
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }
  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: Record<string, unknown>): void {
    if (status < 200) return;
    const out: Record<string, string | string[]> = {};
    for (const name in headers) {
      const value = headers[name] as string | string[];
      if (!HOP_BY_HOP.has(name) && !listedIn(headers.connection, name)) out[name] = value;
    }
    this.res.writeHead(status, out);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.res.write(chunk)) return;
    controller.pause();
    this.res.once("drain", () => controller.resume());
  }
  onResponseEnd(): void {
    this.res.end();
  }
  onResponseError(_c: Dispatcher.DispatchController, _err: Error): void {
    if (this.res.headersSent) this.res.destroy();
    else this.res.writeHead(502).end();
  }
}

const pool = new Pool(upstream, { connections: 64 });

const server = createServer((req, res) => {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name) || name === "host" || listedIn(req.headers.connection, name)) continue;
    headers.push(raw[i] as string, raw[i + 1] as string);
  }
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"]) > 0;
  const relay = new Relay(res);
  // A client gone before the answer ends cancels the upstream call.
  res.on("close", () => res.writableFinished || relay.controller?.abort(new Error("client went away")));
  pool.dispatch(
    {
      method: req.method as Dispatcher.HttpMethod,
      path: req.url ?? "/",
      headers,
      body: hasBody ? req : null,
    },
    relay,
  );
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => process.stdout.write(`floor listening on 127.0.0.1:${port}\n`));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    void pool.destroy().finally(() => process.exit(0));
  });
}
