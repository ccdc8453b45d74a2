import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/**
 * A real upstream on 127.0.0.1 that records every request it sees and answers with what it got,
 * so a test can prove what was forwarded, and that a refused request never arrived.
 */
export interface RecordingUpstream {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Overrides the default echo answer. */
  handler: ((req: RecordedRequest, res: import("node:http").ServerResponse) => void) | undefined;
  server: Server;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<RecordingUpstream> {
  const up: RecordingUpstream = {
    url: "",
    port: 0,
    requests: [],
    handler: undefined,
    server: createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const rec: RecordedRequest = {
          method: req.method ?? "",
          url: req.url ?? "",
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          body: Buffer.concat(chunks).toString("utf8"),
        };
        up.requests.push(rec);
        if (up.handler) return up.handler(rec, res);
        res.writeHead(200, { "content-type": "application/json", "x-upstream": "yes" });
        res.end(JSON.stringify({ method: rec.method, url: rec.url, headers: rec.headers, body: rec.body }));
      });
    }),
    close: () =>
      new Promise<void>((r) => {
        up.server.close(() => r());
        up.server.closeAllConnections();
      }),
  };
  await new Promise<void>((r) => up.server.listen(0, "127.0.0.1", r));
  up.port = (up.server.address() as AddressInfo).port;
  up.url = `http://127.0.0.1:${up.port}`;
  return up;
}
