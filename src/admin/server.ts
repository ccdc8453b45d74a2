import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";

export interface AdminDeps {
  registry: Registry;
  /** Ready to take traffic: every issuer's keys loaded and not shutting down. */
  ready: () => boolean;
  /** Takes the forward-auth endpoint's requests when it is served here (returns true). */
  forwardAuth?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/**
 * /healthz (the process answers), /readyz (it should get traffic) and /metrics, on their own port;
 * and the forward-auth endpoint when `forwardAuth.listener` is `admin`.
 */
export function createAdminServer(deps: AdminDeps): Server {
  return createServer((req, res) => {
    if (deps.forwardAuth?.(req, res)) return;
    const path = (req.url ?? "/").split("?", 1)[0];
    const json = (status: number, body: object) =>
      res
        .writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
        .end(JSON.stringify(body));
    if (req.method !== "GET" && req.method !== "HEAD") return json(405, { error: "method_not_allowed" });
    if (path === "/healthz") return json(200, { status: "ok" });
    if (path === "/readyz")
      return deps.ready() ? json(200, { status: "ready" }) : json(503, { status: "not ready" });
    if (path === "/metrics") {
      deps.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": deps.registry.contentType }).end(text),
        () => json(500, { error: "metrics_unavailable" }),
      );
      return;
    }
    json(404, { error: "not_found" });
  });
}
