import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { Pool } from "undici";
import { clientResponseHeaders } from "../core/headers.js";
import { GatewayError } from "../errors.js";

export interface UpstreamOptions {
  connectTimeoutMs: number;
  maxConnections: number;
  keepAliveTimeoutMs: number;
}

/** One keep-alive undici Pool per upstream origin, created on first use and closed together. */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: UpstreamOptions) {}

  get(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: this.options.maxConnections,
        connectTimeout: this.options.connectTimeoutMs,
        keepAliveTimeout: this.options.keepAliveTimeoutMs,
        pipelining: 1,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** Waits for in-flight requests, then closes every pool. */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }

  /** Drops every connection at once (the drain deadline has passed). */
  async destroy(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }
}

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

/** undici's stable error codes → our answer: too slow is 504, anything else is 502. */
export function upstreamFailure(err: unknown): GatewayError {
  const code = (err as { code?: string }).code ?? "";
  return TIMEOUT_CODES.has(code)
    ? new GatewayError("gateway_timeout", "upstream_timeout", code)
    : new GatewayError("bad_gateway", "upstream_error", code || (err as Error).message);
}

export interface ForwardRequest {
  method: string;
  /** Path and query, as the upstream receives them. */
  path: string;
  headers: string[];
  /** The client's request when it carries a body; streamed, never buffered. */
  body: IncomingMessage | null;
  timeoutMs: number;
  /** Extra response headers for the client (X-Request-Id). */
  responseHeaders: Record<string, string>;
}

/**
 * Streams the request to the upstream and its answer back to the client.
 * Resolves with the upstream's status once the response has been written; rejects with a
 * GatewayError when no response could be started (the caller answers 502/504). A failure after
 * the response has begun can only cut the connection, which is what happens.
 */
export function forward(
  pool: Pool,
  request: ForwardRequest,
  res: ServerResponse,
  onResponseStart: (status: number) => void,
): Promise<number> {
  let status = 0;
  return pool
    .stream(
      {
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body,
        headersTimeout: request.timeoutMs,
        bodyTimeout: request.timeoutMs,
        // undici takes any EventEmitter as a signal: the response itself, which emits "abort"
        // when the client goes away first (see abortOnClientClose), so no AbortController per request.
        signal: res,
      },
      ({ statusCode, headers }) => {
        status = statusCode;
        onResponseStart(statusCode);
        const out = clientResponseHeaders(headers as Record<string, string | string[] | undefined>);
        Object.assign(out, request.responseHeaders);
        res.writeHead(statusCode, out);
        return res;
      },
    )
    .then(
      () => status,
      (err: unknown) => {
        if (status !== 0 || res.headersSent) {
          res.destroy();
          return status;
        }
        throw upstreamFailure(err);
      },
    );
}

/** Call from the response's "close" listener: a client gone before the answer ends cancels the upstream call. */
export function abortOnClientClose(res: ServerResponse): void {
  if (!res.writableFinished) res.emit("abort");
}

/**
 * Opens an upgraded connection (WebSocket) to the upstream and splices it onto the client's
 * socket. Rejects with a GatewayError before anything was written to the client.
 */
export async function forwardUpgrade(
  pool: Pool,
  request: { path: string; headers: string[]; timeoutMs: number; protocol: string },
  client: Duplex,
  head: Buffer,
): Promise<void> {
  let upgraded: { headers: Record<string, string | string[] | undefined>; socket: Duplex };
  try {
    upgraded = (await pool.upgrade({
      path: request.path,
      method: "GET",
      headers: request.headers,
      protocol: request.protocol,
      headersTimeout: request.timeoutMs,
    } as Parameters<Pool["upgrade"]>[0])) as typeof upgraded;
  } catch (err) {
    throw upstreamFailure(err);
  }
  const { socket } = upgraded;
  let head101 = "HTTP/1.1 101 Switching Protocols\r\n";
  for (const [name, value] of Object.entries(upgraded.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) head101 += `${name}: ${v}\r\n`;
  }
  client.write(`${head101}\r\n`);
  if (head.length > 0) socket.write(head);
  const close = () => {
    socket.destroy();
    client.destroy();
  };
  socket.on("error", close).on("close", close);
  client.on("error", close).on("close", close);
  socket.pipe(client);
  client.pipe(socket);
}
