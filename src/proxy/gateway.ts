import type { IdentityPoolTarget } from "../aws/pools.js";
import type { Config, RouteConfig } from "../config/schema.js";
import { type RequestHeaderFilter, requestHeaderFilter } from "../core/headers.js";
import { STANDARD_IDENTITY_HEADERS } from "../core/identity.js";
import { normalizeTarget } from "../core/path.js";
import { type AuthRules, compileRules } from "../core/policy.js";
import { type CompiledRoute, compileRoute, hostName } from "../core/route.js";
import { compileTokenSource, type TokenSource } from "../core/token-source.js";
import { type AwsTarget, compileAwsTarget, type SignerCache } from "./aws-upstream.js";

/** A route with everything the request pipeline needs, compiled once from the config. */
export interface GatewayRoute extends CompiledRoute {
  readonly mode: RouteConfig["auth"]["mode"];
  readonly tokenSource: TokenSource;
  readonly rules: AuthRules;
  readonly claimHeaders: ReadonlyArray<readonly [string, string]>;
  readonly forwardToken: boolean;
  readonly timeoutMs: number;
  /** Set on routes to AWS services: their requests are signed with the caller's credentials. */
  readonly aws: AwsTarget | undefined;
}

export interface GatewayMatch {
  route: GatewayRoute;
  path: string;
  query: string;
}

/**
 * The compiled routing and auth state of one config: immutable, so a request keeps the state it
 * started with even if the config is replaced meanwhile.
 */
export class Gateway {
  readonly routes: readonly GatewayRoute[];
  /** Identity headers of every route, removed from every incoming request. */
  readonly headerFilter: RequestHeaderFilter;
  readonly trustForwardedHeaders: boolean;

  constructor(config: Config, identityPools: ReadonlyMap<string, IdentityPoolTarget> = new Map()) {
    const maxToken = config.limits.maxTokenBytes;
    const signers: SignerCache = new Map();
    this.routes = config.routes.map((r) => ({
      ...compileRoute(r),
      mode: r.auth.mode,
      tokenSource: compileTokenSource(r.auth.token, maxToken),
      rules: compileRules(r.auth),
      claimHeaders: Object.entries(r.auth.claimHeaders).map(([h, c]) => [h.toLowerCase(), c] as const),
      // A token never goes to AWS: the signature replaces it.
      forwardToken: r.upstream.aws === undefined && (r.auth.forwardToken ?? true),
      timeoutMs: r.upstream.timeoutMs ?? config.limits.upstreamTimeoutMs,
      aws: compileAwsTarget(r.upstream, identityPools, signers),
    }));
    const identityNames = new Set<string>(STANDARD_IDENTITY_HEADERS);
    for (const r of this.routes) for (const [h] of r.claimHeaders) identityNames.add(h);
    this.headerFilter = requestHeaderFilter(identityNames);
    this.trustForwardedHeaders = config.listen.trustForwardedHeaders;
  }

  /** Normalizes the target (a 400 GatewayError when ambiguous) and finds the first matching route. */
  match(hostHeader: string | undefined, method: string, target: string): GatewayMatch | undefined {
    const { path, query } = normalizeTarget(target);
    const host = hostName(hostHeader);
    for (const route of this.routes) {
      if (route.matches(host, method, path)) return { route, path, query };
    }
    return undefined;
  }
}
