import type { IncomingMessage } from "node:http";
import type { Identity } from "../core/identity.js";
import type { TraceContext } from "../core/trace.js";
import type { Span } from "../tracing.js";
import type { UpstreamRequest } from "./forwarder.js";

/** A request that has passed its route's rules, as an upstream strategy sees it. */
export interface AuthorizedExchange {
  readonly req: IncomingMessage;
  readonly method: string;
  readonly requestId: string;
  /** The W3C traceparent to send upstream (core/trace.ts); optional for exchanges built by tests. */
  readonly trace?: TraceContext;
  /** The request's span (tracing.ts): parent of the spans of the calls made for it. */
  readonly span?: Span;
  /** The normalized path the route matched. */
  readonly path: string;
  /** The query as the client sent it, with its leading "?", or "". */
  readonly query: string;
  /** Undefined for an anonymous caller (public routes, optional routes without a token). */
  readonly identity: Identity | undefined;
  /** The verified token (never logged), undefined when there is no identity. */
  readonly token: string | undefined;
  /** The caller's access token, when they have one (never logged): ALB's `x-amzn-oidc-accesstoken`. */
  readonly accessToken?: string | undefined;
  /** True when the request carries a body (a length above 0, or chunked). */
  readonly hasBody: boolean;
  /** Answers `Expect: 100-continue` (once, when the client asked): call when the body is wanted. */
  continueBody(): void;
}

/** What a strategy prepared, and what it holds until the exchange ends. */
export interface PreparedRequest extends UpstreamRequest {
  /** Gives back what preparing took (a held body's bytes); later calls do nothing. */
  release(): void;
}

/**
 * How one route's upstream is reached, compiled once from the config. The handler knows no
 * service: it authorizes, asks the strategy for the request to send, forwards it, and releases.
 */
export interface UpstreamStrategy {
  /** Labels metrics (`plain` or an AWS service name). */
  readonly kind: string;
  /** The origin (scheme, host, port) the request goes to. */
  readonly origin: string;
  readonly timeoutMs: number;
  /** Whether WebSocket upgrades may pass. */
  readonly upgrades: boolean;
  /** The request to send, or a Refusal (thrown or rejected) when the route refuses it. */
  prepare(exchange: AuthorizedExchange): PreparedRequest | Promise<PreparedRequest>;
  /**
   * The headers about the caller the upstream gets (flat name/value list), for a forward-auth
   * answer to hand the ingress. Absent where only cupbearer can reach the upstream (AWS: signed).
   */
  callerHeaders?(
    exchange: Pick<AuthorizedExchange, "identity" | "token" | "accessToken">,
  ): string[] | Promise<string[]>;
}

export const NOTHING_HELD = (): void => {};
