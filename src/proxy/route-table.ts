import type { IdentityPoolTarget } from "../aws/pools.js";
import { createSigner, type Signer } from "../aws/signer.js";
import type { Config, RouteConfig } from "../config/types.js";
import { AWS_REPLACED_HEADERS } from "../core/aws-request.js";
import { type CorsRules, compileCors } from "../core/cors.js";
import { type RequestHeaderFilter, requestHeaderFilter } from "../core/headers.js";
import { STANDARD_IDENTITY_HEADERS } from "../core/identity.js";
import { type AuthRules, compileRules } from "../core/policy.js";
import { type CompiledRoute, compileRoute, matchRoute, type RouteMatch } from "../core/route.js";
import { compileTokenSource, type TokenSource } from "../core/token-source.js";
import { type Metrics, RouteMetrics } from "../metrics.js";
import { AwsUpstream } from "./aws-upstream.js";
import type { HeldBodyBudget } from "./held-body.js";
import { PlainUpstream } from "./plain-upstream.js";
import type { UpstreamStrategy } from "./upstream.js";

/** A route with everything the request pipeline needs, compiled once from the config. */
export interface ProxyRoute extends CompiledRoute {
  readonly mode: RouteConfig["auth"]["mode"];
  readonly tokenSource: TokenSource;
  readonly rules: AuthRules;
  readonly upstream: UpstreamStrategy;
  readonly metrics: RouteMetrics;
  /** Set when the route answers CORS preflights and adds CORS headers to its answers. */
  readonly cors: CorsRules | undefined;
}

/** What compiling routes needs beyond the config: process-wide state that outlives a reload. */
export interface RouteTableDeps {
  /** The config's identity pools, by id. */
  readonly identityPools: ReadonlyMap<string, IdentityPoolTarget>;
  readonly heldBodies: HeldBodyBudget;
  readonly metrics: Metrics;
}

/** The route id of requests no route matched, in metrics and logs. */
export const NO_ROUTE = "none";

/**
 * The routes of one config, compiled: immutable, so a request keeps the routes it started with
 * even if the config is replaced meanwhile.
 */
export class RouteTable {
  readonly routes: readonly ProxyRoute[];
  /** Metrics of requests no route matched. */
  readonly unmatched: RouteMetrics;

  constructor(config: Config, deps: RouteTableDeps) {
    // Identity headers of every route are removed from every request, whichever route it takes.
    const identityNames = new Set<string>(STANDARD_IDENTITY_HEADERS);
    for (const r of config.routes) for (const h of Object.keys(r.auth.claimHeaders)) identityNames.add(h);
    const filter = requestHeaderFilter(identityNames);
    // Signers are shared by every route of one (service, region): their key caches too.
    const signers = new Map<string, Signer>();
    const signerFor = (service: string, region: string) => {
      const key = `${service}\n${region}`;
      let signer = signers.get(key);
      if (signer === undefined) {
        signer = createSigner({ service, region });
        signers.set(key, signer);
      }
      return signer;
    };

    this.routes = config.routes.map((r) => {
      const route = compileRoute(r);
      const tokenSource = compileTokenSource(r.auth.token, config.limits.maxTokenBytes);
      const metrics = new RouteMetrics(deps.metrics, r.id);
      const timeoutMs = r.upstream.timeoutMs ?? config.limits.upstreamTimeoutMs;
      const aws = r.upstream.aws;
      let upstream: UpstreamStrategy;
      if (aws === undefined) {
        upstream = new PlainUpstream({
          origin: route.upstreamOrigin,
          timeoutMs,
          upstreamPath: route.upstreamPath,
          filter,
          stripToken: r.auth.mode !== "public" && r.auth.forwardToken === false ? tokenSource : undefined,
          claimHeaders: Object.entries(r.auth.claimHeaders).map(([h, c]) => [h.toLowerCase(), c] as const),
          trustForwardedHeaders: config.listen.trustForwardedHeaders,
        });
      } else {
        const identityPool = deps.identityPools.get(aws.identityPool);
        // The schema checks every reference; a missing one here is a bug, not a config problem.
        if (identityPool === undefined) throw new Error(`identity pool ${aws.identityPool} was not built`);
        const { s3, dynamodb } = r.upstream;
        const signed = deps.metrics.signedRequests.labels({ route: r.id, service: aws.service });
        upstream = new AwsUpstream({
          service: aws.service,
          origin: route.upstreamOrigin,
          host: new URL(r.upstream.url).host,
          timeoutMs,
          upstreamPath: route.upstreamPath,
          // A token never goes to AWS, wherever it travels: the signature replaces it.
          filter: awsFilter(filter, tokenSource),
          tokenSource: r.auth.mode === "public" ? undefined : tokenSource,
          signer: signerFor(aws.service, aws.region),
          identityPool,
          s3:
            aws.service === "s3"
              ? { keyPrefix: s3?.keyPrefix, addressing: s3?.addressing ?? "path" }
              : undefined,
          dynamodb:
            dynamodb === undefined
              ? undefined
              : {
                  ...(dynamodb.tables && { tables: new Set(dynamodb.tables) }),
                  ...(dynamodb.operations && { operations: new Set(dynamodb.operations) }),
                },
          maxBodyBytes: aws.maxBodyBytes,
          heldBodies: deps.heldBodies,
          onSigned: () => signed.inc(),
        });
      }
      const cors = r.cors === undefined ? undefined : compileCors(r.cors);
      return {
        ...route,
        mode: r.auth.mode,
        tokenSource,
        rules: compileRules(r.auth),
        upstream,
        metrics,
        cors,
      };
    });
    this.unmatched = new RouteMetrics(deps.metrics, NO_ROUTE);
  }

  /** Normalizes the target (a `bad_path` Refusal when ambiguous) and finds the first matching route. */
  match(hostHeader: string | undefined, method: string, target: string): RouteMatch<ProxyRoute> | undefined {
    return matchRoute(this.routes, hostHeader, method, target);
  }
}

function awsFilter(filter: RequestHeaderFilter, tokenSource: TokenSource): RequestHeaderFilter {
  const names = [...filter.drop, ...AWS_REPLACED_HEADERS];
  if (tokenSource.headerName !== undefined) names.push(tokenSource.headerName);
  return requestHeaderFilter(names);
}
