import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";

/**
 * Upstreams that read requests as real stacks do, each recording which of its handlers ran and
 * who it believed the caller was. The attack tests assert on these records: the property is
 * that a protected handler never runs for a caller the route's rules refuse.
 */

/** One handler run: which handler, and the user the upstream read from the identity header. */
export interface HandlerRun {
  readonly handler: string;
  readonly user: string | undefined;
  readonly method: string;
}

export interface Stack {
  readonly name: string;
  readonly url: string;
  readonly runs: HandlerRun[];
  close(): Promise<void>;
}

async function listen(name: string, server: Server, runs: HandlerRun[]): Promise<Stack> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    runs,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/**
 * Express 4 with its default router (case-insensitive, non-strict, HEAD runs GET handlers) and a
 * method-override step reading X-HTTP-Method-Override on POST, as the method-override package does.
 */
export function expressStack(): Promise<Stack> {
  const runs: HandlerRun[] = [];
  const app = express();
  app.use((req, _res, next) => {
    const override = req.get("x-http-method-override");
    if (req.method === "POST" && override !== undefined) req.method = override.toUpperCase();
    // As IIS's URL rewrite module and Symfony's request do, a front proxy's original URL wins.
    const original = req.get("x-original-url");
    if (original !== undefined) req.url = original;
    next();
  });
  const hit = (handler: string) => (req: express.Request, res: express.Response) => {
    runs.push({ handler, user: req.get("x-auth-request-user"), method: req.method });
    res.json({ handler });
  };
  app.all(["/admin", "/admin/*"], hit("admin"));
  app.get("/reports/daily", hit("report"));
  app.delete("/items/:id", hit("items-delete"));
  app.post("/items/:id", hit("items-create"));
  app.all("*", hit("other"));
  return listen("express", createServer(app), runs);
}

/**
 * A servlet container's mapping (Tomcat, Jetty): `;params` cut from every segment, then decoded,
 * then dot segments resolved (so `/..;/` climbs), then prefix-mapped, case-sensitively.
 */
export function servletPath(target: string): string {
  const raw = target.split("?", 1)[0] as string;
  const out: string[] = [];
  for (const seg of raw.split("/")) {
    const name = decode(seg.split(";", 1)[0] as string);
    if (name === "" || name === ".") continue;
    if (name === "..") out.pop();
    else out.push(name);
  }
  return `/${out.join("/")}`;
}

export function servletStack(): Promise<Stack> {
  const runs: HandlerRun[] = [];
  const server = createServer((req, res) => {
    const path = servletPath(req.url ?? "/");
    const handler =
      path === "/admin" || path.startsWith("/admin/")
        ? "admin"
        : path === "/reports/daily" && (req.method === "GET" || req.method === "HEAD")
          ? "report"
          : "other";
    runs.push({ handler, user: header(req, "x-auth-request-user"), method: req.method ?? "" });
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ handler }));
  });
  return listen("servlet", server, runs);
}

/** Percent-decoding as these servers do it: bytes that are not UTF-8 are read as Latin-1. */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return unescape(text);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/**
 * A WSGI server's environ (as wsgiref builds it): every header becomes `HTTP_` + its name in
 * capitals with `-` as `_`, repeated names comma-joined. The app reads the user from
 * HTTP_X_AUTH_REQUEST_USER, and X-HTTP-Method-Override like common WSGI middleware.
 */
export function wsgiEnviron(rawHeaders: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = `HTTP_${(rawHeaders[i] as string).replaceAll("-", "_").toUpperCase()}`;
    const value = (rawHeaders[i + 1] as string).trim();
    env[key] = key in env ? `${env[key]},${value}` : value;
  }
  return env;
}

export function wsgiStack(): Promise<Stack> {
  const runs: HandlerRun[] = [];
  const server = createServer((req, res) => {
    const env = wsgiEnviron(req.rawHeaders);
    const path = decode((req.url ?? "/").split("?", 1)[0] as string);
    const method = env.HTTP_X_HTTP_METHOD_OVERRIDE ?? req.method ?? "";
    const handler =
      path === "/admin" || path.startsWith("/admin/")
        ? "admin"
        : method === "DELETE"
          ? "items-delete"
          : "other";
    runs.push({ handler, user: env.HTTP_X_AUTH_REQUEST_USER, method });
    const body = JSON.stringify({
      handler,
      user: env.HTTP_X_AUTH_REQUEST_USER,
      forwardedFor: env.HTTP_X_FORWARDED_FOR,
    });
    res
      .writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
      .end(body);
  });
  return listen("wsgi", server, runs);
}
