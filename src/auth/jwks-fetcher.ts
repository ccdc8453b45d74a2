import { NonRetryableFetchError, WaitPeriodNotYetEndedJwkError } from "aws-jwt-verify/error";
import type { Fetcher } from "aws-jwt-verify/https";
import type { PenaltyBox } from "aws-jwt-verify/jwk";
import { type Dispatcher, request } from "undici";
import type { Tracer } from "../tracing.js";

export interface JwksFetcherOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Keep-alive connection pool shared by all JWKS fetches. */
  dispatcher: Dispatcher;
  /** Told of every fetch, for metrics. */
  onResult?: (uri: string, ok: boolean) => void;
  /** Records a client span per fetch when traces are exported. */
  tracer?: Tracer | undefined;
}

/**
 * aws-jwt-verify's Fetcher over undici: plain http for loopback emulators (the schema decides
 * which URIs are allowed), bounded in time and size, no redirects followed.
 */
export class UndiciJwksFetcher implements Fetcher {
  constructor(private readonly options: JwksFetcherOptions) {}

  async fetch(uri: string): Promise<ArrayBuffer> {
    const span = this.options.tracer === undefined ? undefined : fetchSpan(this.options.tracer, uri);
    try {
      const body = await this.get(uri);
      this.options.onResult?.(uri, true);
      span?.end(200);
      return body;
    } catch (err) {
      this.options.onResult?.(uri, false);
      span?.end(undefined, "jwks_fetch_failed");
      throw err instanceof NonRetryableFetchError
        ? err
        : new NonRetryableFetchError(uri, (err as Error).message);
    }
  }

  private async get(uri: string): Promise<ArrayBuffer> {
    const { timeoutMs, maxBytes, dispatcher } = this.options;
    const res = await request(uri, {
      dispatcher,
      method: "GET",
      headers: { accept: "application/json" },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new NonRetryableFetchError(uri, `status ${res.statusCode}`);
    }
    // Destroying the body makes undici emit "aborted": expected here, so it is swallowed.
    const discard = () => res.body.on("error", () => undefined).destroy();
    if (Number(res.headers["content-length"] ?? 0) > maxBytes) {
      discard();
      throw new NonRetryableFetchError(uri, "JWKS too large");
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) break;
      chunks.push(chunk as Buffer);
    }
    if (size > maxBytes) {
      discard();
      throw new NonRetryableFetchError(uri, "JWKS too large");
    }
    const all = Buffer.concat(chunks);
    return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  }
}

/** A JWKS fetch's span: a root of its own (key loading belongs to no one request). */
function fetchSpan(tracer: Tracer, uri: string) {
  const url = new URL(uri);
  return tracer.startSpan("GET", "client", {
    "http.request.method": "GET",
    "server.address": url.hostname,
    "server.port": Number(url.port) || (url.protocol === "https:" ? 443 : 80),
    "url.path": url.pathname,
  });
}

/**
 * Limits refetches of a JWKS: after an unknown `kid`, or a failed fetch, no new fetch of that URI
 * happens for `waitMs`; tokens asking for one are refused meanwhile. So a flood of junk kids
 * costs the issuer at most one request per period, even while it is down.
 */
export class RefetchLimiter implements PenaltyBox {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly waitMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async wait(jwksUri: string): Promise<void> {
    const until = this.until.get(jwksUri);
    if (until !== undefined && this.now() < until) {
      throw new WaitPeriodNotYetEndedJwkError("JWKS refetch is rate limited");
    }
  }

  registerFailedAttempt(jwksUri: string): void {
    this.until.set(jwksUri, this.now() + this.waitMs);
  }

  registerSuccessfulAttempt(jwksUri: string): void {
    this.until.delete(jwksUri);
  }
}
