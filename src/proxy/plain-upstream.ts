import type { AssertionSigner } from "../assertions/signer.js";
import { ALB_ACCESS_TOKEN_HEADER, ALB_DATA_HEADER, ALB_IDENTITY_HEADER } from "../core/assertion.js";
import { type RequestHeaderFilter, upstreamRequestHeaders } from "../core/headers.js";
import { type Identity, identityHeaders } from "../core/identity.js";
import { withoutSessionCookies } from "../core/session-rules.js";
import type { TokenSource } from "../core/token-source.js";
import {
  type AuthorizedExchange,
  NOTHING_HELD,
  type PreparedRequest,
  type UpstreamStrategy,
} from "./upstream.js";

export interface PlainUpstreamProps {
  readonly origin: string;
  readonly timeoutMs: number;
  /** The path the upstream receives for a matched, normalized path. */
  readonly upstreamPath: (path: string) => string;
  /** Identity headers of every route and the fixed drops. */
  readonly filter: RequestHeaderFilter;
  /** Set when the token is taken out before forwarding (public routes have none to take). */
  readonly stripToken: TokenSource | undefined;
  /** Header name → claim name, lower-case names. */
  readonly claimHeaders: ReadonlyArray<readonly [string, string]>;
  /** Extend a trusted proxy's X-Forwarded-* instead of replacing it. */
  readonly trustForwardedHeaders: boolean;
  /** The session cookie's name (`sessions.cookie.name`): its chunks and sign-in cookie never pass. */
  readonly sessionCookie?: string | undefined;
  /** Signed identity headers the route sends (`auth.assertion`, `auth.albHeaders`), when it asks for any. */
  readonly assertions?: RouteAssertions;
}

/** What a route signs for its callers. */
export interface RouteAssertions {
  readonly signer: AssertionSigner;
  /** The route id: the assertion's `aud`. */
  readonly routeId: string;
  /** Lower-case name of the header that carries cupbearer's assertion; undefined sends none. */
  readonly header: string | undefined;
  /** Send ALB's x-amzn-oidc-* headers. */
  readonly alb: boolean;
}

/**
 * A service that takes the request as it came, with the token (or without it, as the route says),
 * identity headers cupbearer vouches for, and forwarding headers only cupbearer writes.
 */
export class PlainUpstream implements UpstreamStrategy {
  readonly kind = "plain";
  readonly upgrades = true;
  readonly origin: string;
  readonly timeoutMs: number;

  constructor(private readonly props: PlainUpstreamProps) {
    this.origin = props.origin;
    this.timeoutMs = props.timeoutMs;
  }

  prepare(exchange: AuthorizedExchange): PreparedRequest | Promise<PreparedRequest> {
    const caller = this.callerHeaders(exchange);
    return Array.isArray(caller)
      ? this.#prepare(exchange, caller)
      : caller.then((headers) => this.#prepare(exchange, headers));
  }

  /**
   * The identity headers and the signed ones (`auth.assertion`, `auth.albHeaders`) this route
   * sends for the caller, as a new flat name/value list: none for an anonymous caller (as ALB's
   * `allow` sends no x-amzn-oidc-* headers). Synchronous unless the route signs.
   */
  callerHeaders(
    exchange: Pick<AuthorizedExchange, "identity" | "token" | "accessToken">,
  ): string[] | Promise<string[]> {
    const { identity } = exchange;
    if (identity === undefined) return [];
    const headers: string[] = [];
    for (const [name, value] of identityHeaders(identity, this.props.claimHeaders)) headers.push(name, value);
    const { assertions } = this.props;
    if (assertions === undefined) return headers;
    return signedHeaders(assertions, identity, exchange).then((signed) => headers.concat(signed));
  }

  /** `append`: the caller's headers (callerHeaders), added to by the rest of the request's own. */
  #prepare(exchange: AuthorizedExchange, append: string[]): PreparedRequest {
    const { props } = this;
    const { req } = exchange;
    const h = req.headers;
    let query = exchange.query;
    let strippedHeader: string | undefined;

    const source = props.stripToken;
    let dropCookie = false;
    const cookie = h.cookie;
    let kept = cookie;
    if (source !== undefined) {
      strippedHeader = source.headerName;
      query = source.stripFromQuery(query);
      if (kept !== undefined) kept = source.stripFromCookie(kept);
    }
    if (props.sessionCookie !== undefined && kept !== undefined) {
      kept = withoutSessionCookies(kept, props.sessionCookie);
    }
    if (kept !== cookie) {
      dropCookie = true;
      if (kept !== undefined) append.push("cookie", kept);
    }

    const remote = req.socket.remoteAddress ?? "";
    if (props.trustForwardedHeaders) {
      const xff = h["x-forwarded-for"];
      const proto = h["x-forwarded-proto"];
      const xfh = h["x-forwarded-host"];
      append.push(
        "x-forwarded-for",
        typeof xff === "string" && xff !== "" ? `${xff}, ${remote}` : remote,
        "x-forwarded-proto",
        typeof proto === "string" ? proto : "http",
        "x-forwarded-host",
        typeof xfh === "string" ? xfh : (h.host ?? ""),
      );
    } else {
      append.push("x-forwarded-for", remote, "x-forwarded-proto", "http", "x-forwarded-host", h.host ?? "");
    }
    append.push("x-request-id", exchange.requestId);
    if (exchange.trace !== undefined) append.push("traceparent", exchange.trace.traceparent);

    return {
      method: exchange.method,
      path: props.upstreamPath(exchange.path) + query,
      headers: upstreamRequestHeaders(
        req.rawHeaders,
        props.filter,
        h.connection,
        strippedHeader,
        append,
        dropCookie,
      ),
      body: exchange.hasBody ? req : null,
      release: NOTHING_HELD,
    };
  }
}

/** The route's signed headers for this caller, as a flat name/value list. */
async function signedHeaders(
  assertions: RouteAssertions,
  identity: Identity,
  exchange: Pick<AuthorizedExchange, "token" | "accessToken">,
): Promise<string[]> {
  const { signer, header, routeId } = assertions;
  const [assertion, albData] = await Promise.all([
    header === undefined ? undefined : signer.assertion(routeId, identity, exchange.token),
    assertions.alb ? signer.albData(identity, exchange.token) : undefined,
  ]);
  const out: string[] = [];
  if (header !== undefined && assertion !== undefined) out.push(header, assertion);
  if (albData !== undefined) {
    out.push(ALB_IDENTITY_HEADER, identity.subject, ALB_DATA_HEADER, albData);
    if (exchange.accessToken !== undefined) out.push(ALB_ACCESS_TOKEN_HEADER, exchange.accessToken);
  }
  return out;
}
