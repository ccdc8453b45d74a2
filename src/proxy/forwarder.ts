import type { ServerResponse } from "node:http";
import type { Duplex, Readable } from "node:stream";
import { type Dispatcher, Pool } from "undici";
import { dropBodyDigests } from "../core/body-digests.js";
import { clientResponseHeaders } from "../core/headers.js";
import { Refusal } from "../errors.js";

export interface UpstreamConnectionOptions {
  connectTimeoutMs: number;
  maxConnections: number;
  keepAliveTimeoutMs: number;
}

/** One keep-alive undici Pool per upstream origin, created on first use and cut together. */
export class UpstreamConnections {
  readonly #pools = new Map<string, Pool>();

  constructor(private readonly options: UpstreamConnectionOptions) {}

  get(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: this.options.maxConnections,
        connectTimeout: this.options.connectTimeoutMs,
        keepAliveTimeout: this.options.keepAliveTimeoutMs,
        pipelining: 1,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /** Cuts every pool and what is still open on it: for after the drain, when no answer is awaited. */
  async destroy(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.destroy()));
    this.#pools.clear();
  }
}

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

/** undici's stable error codes → our answer: too slow is 504, anything else is 502. */
export function upstreamFailure(err: unknown): Refusal {
  // The request body's own failure (a broken aws-chunked framing): the client's fault, said so.
  if (err instanceof Refusal) return err;
  const code = (err as { code?: string }).code ?? "";
  return TIMEOUT_CODES.has(code)
    ? new Refusal("upstream_timeout", code)
    : new Refusal("upstream_error", code || (err as Error).message);
}

/**
 * An error or redirect answer is held whole (up to maxBytes), rewritten, then sent with its new
 * length, without the headers that described the old body (checksums, ETag, Content-MD5).
 * One larger than that, or compressed, loses its body: a body that cannot be checked is not sent.
 */
export interface ErrorBodyFilter {
  readonly maxBytes: number;
  rewrite(body: string): string;
}

/** The request as it goes upstream. */
export interface UpstreamRequest {
  readonly method: string;
  /** Path and query, as the upstream receives them. */
  readonly path: string;
  readonly headers: string[];
  /** The client's request when it carries a body, streamed; or a body already read and checked. */
  readonly body: Readable | Buffer | null;
  /** Rewrites error and redirect answers (status >= 300 but 304) before the client sees them. */
  readonly errorBody?: ErrorBodyFilter | undefined;
  /** Adjusts the headers of every answer before the client sees them. */
  readonly answerHeaders?: ((headers: Record<string, string | string[]>, status: number) => void) | undefined;
}

/** What the relay adds to every answer, decided when the answer starts. */
export interface AnswerHeaders {
  readonly requestId: string;
  /** True once shutdown has begun: the answer then asks the client to close its connection. */
  readonly draining: () => boolean;
  /**
   * Given how to cancel the upstream call, to run if the client's response closes before it ends
   * (the exchange already listens for that close: a second listener per request is avoidable cost).
   */
  cancelWith(cancel: () => void): void;
  /** Adds what the route adds to every answer (CORS headers), to the headers about to be sent. */
  decorate?(headers: Record<string, string | string[]>): void;
}

/** An error answer held in memory, within its bound, until it is rewritten. */
class ErrorAnswerBuffer {
  private readonly chunks: Buffer[] = [];
  size = 0;
  overflow = false;

  constructor(private readonly maxBytes: number) {}

  add(chunk: Buffer): void {
    if (this.overflow) return;
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.overflow = true;
      this.chunks.length = 0;
    } else this.chunks.push(chunk);
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/**
 * Relays one upstream answer into the client's response as undici delivers it: headers, then
 * chunks with backpressure (the upstream is paused while the client is slow), then the end.
 * A handler of undici's own dispatch API, so no intermediate stream sits between the two sockets.
 * A client that goes away before the answer ends cancels the upstream call.
 */
class ResponseRelay implements Dispatcher.DispatchHandler {
  private status = 0;
  private done = false;
  /** Body bytes still to come when the upstream declared a length, else -1. */
  private remaining = -1;
  private controller: Dispatcher.DispatchController | undefined;
  private held: { body: ErrorAnswerBuffer; headers: Record<string, string | string[]> } | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly answer: AnswerHeaders,
    private readonly started: (status: number) => void,
    private readonly settle: (result: number | Refusal) => void,
    private readonly errorBody: ErrorBodyFilter | undefined,
    private readonly answerHeaders: UpstreamRequest["answerHeaders"],
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  /** The client's response closed: unless the answer was complete, the upstream call is cancelled. */
  readonly clientClosed = () => {
    if (!this.done) this.controller?.abort(new Error("client closed the connection"));
  };

  private readonly resume = () => this.controller?.resume();

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // A status outside 100-599 has no meaning in HTTP (RFC 9110 §15): the upstream is broken, 502.
    if (statusCode < 100 || statusCode > 599) {
      controller.abort(
        Object.assign(new Error(`upstream answered status ${statusCode}`), { code: "BAD_STATUS" }),
      );
      return;
    }
    // Informational answers (102, 103) are not the response: wait for the final one.
    if (statusCode < 200) return;
    this.status = statusCode;
    this.started(statusCode);
    const out = clientResponseHeaders(headers);
    out["x-request-id"] = this.answer.requestId;
    if (this.answer.draining()) out.connection = "close";
    this.answerHeaders?.(out, statusCode);
    this.answer.decorate?.(out);
    if (statusCode >= 300 && statusCode !== 304 && this.errorBody !== undefined) {
      this.held = { body: new ErrorAnswerBuffer(this.errorBody.maxBytes), headers: out };
      return;
    }
    const length = headers["content-length"];
    if (typeof length === "string" && /^\d+$/.test(length)) this.remaining = Number(length);
    this.res.writeHead(statusCode, out);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.held !== undefined) {
      this.held.body.add(chunk);
      return;
    }
    if (this.remaining > 0) this.remaining -= chunk.length;
    // Never paused on the body's last bytes: an upstream that then closes the connection would
    // meet undici 7's paused parser and crash the process (nodejs/undici#5360, fixed in undici 8,
    // which needs Node 22). Nothing is left to hold back anyway.
    if (!this.res.write(chunk) && this.remaining !== 0) {
      controller.pause();
      this.res.once("drain", this.resume);
    }
  }

  onResponseEnd(): void {
    this.done = true;
    if (this.held !== undefined) this.sendHeld(this.held);
    else this.res.end();
    this.settle(this.status);
  }

  private sendHeld({ body, headers }: NonNullable<ResponseRelay["held"]>): void {
    const encoding = headers["content-encoding"];
    const readable = !body.overflow && (encoding === undefined || encoding === "identity");
    const original = readable ? body.text() : "";
    const text = readable && this.errorBody !== undefined ? this.errorBody.rewrite(original) : "";
    if (!readable) delete headers["content-encoding"];
    if (text !== original || !readable) dropBodyDigests(headers);
    // An answer to HEAD carries the length of a body it does not have: keep that.
    if (body.size > 0 || headers["content-length"] === undefined) {
      headers["content-length"] = String(Buffer.byteLength(text));
    }
    this.res.writeHead(this.status, headers).end(text);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.done = true;
    if (this.status !== 0 || this.res.headersSent) {
      // The answer had begun: all that can be done is to cut the connection.
      this.res.destroy();
      this.settle(this.status);
      return;
    }
    this.settle(upstreamFailure(err));
  }
}

/**
 * Streams the request to the upstream and its answer back to the client.
 * Resolves with the upstream's status once the response has been written (0 when the client had
 * already gone, so nothing was sent); rejects with a Refusal when no response could be started
 * (the caller answers 502/504). A failure after the response has begun can only cut the
 * connection, which is what happens.
 */
export function forward(
  pool: Pool,
  request: UpstreamRequest,
  timeoutMs: number,
  res: ServerResponse,
  answer: AnswerHeaders,
  onResponseStart: (status: number) => void,
): Promise<number> {
  // The client left while its request was being authorized: nobody is waiting for an answer.
  if (res.closed) return Promise.resolve(0);
  return new Promise((resolve, reject) => {
    const relay = new ResponseRelay(
      res,
      answer,
      onResponseStart,
      (result) => (typeof result === "number" ? resolve(result) : reject(result)),
      request.errorBody,
      request.answerHeaders,
    );
    answer.cancelWith(relay.clientClosed);
    pool.dispatch(
      {
        method: request.method as Dispatcher.HttpMethod,
        path: request.path,
        headers: request.headers,
        body: request.body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      },
      relay,
    );
  });
}

/**
 * Opens an upgraded connection (WebSocket) to the upstream and splices it onto the client's
 * socket. Rejects with a Refusal before anything was written to the client.
 */
export async function forwardUpgrade(
  pool: Pool,
  request: { path: string; headers: string[]; protocol: string },
  timeoutMs: number,
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
      headersTimeout: timeoutMs,
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
