import type { AssertionSigner } from "../assertions/signer.js";
import type { IdentityPoolTarget } from "../aws/pools.js";
import { createSigner, type Signer } from "../aws/signer.js";
import type { Config, RouteConfig } from "../config/types.js";
import { ALB_HEADERS, DEFAULT_ASSERTION_HEADER } from "../core/assertion.js";
import { serviceDialect } from "../core/aws-dialect.js";
import { AWS_REPLACED_HEADERS } from "../core/aws-request.js";
import { type CorsRules, compileCors } from "../core/cors.js";
import { type RequestHeaderFilter, requestHeaderFilter } from "../core/headers.js";
import { STANDARD_IDENTITY_HEADERS } from "../core/identity.js";
import { type AuthRules, compileRules } from "../core/policy.js";
import { type CompiledRoute, compileRoute, hostName, matchRoute, type RouteMatch } from "../core/route.js";
import { mayStandIn } from "../core/route-strictness.js";
import { compileTokenSource, type TokenSource } from "../core/token-source.js";
import { Refusal } from "../errors.js";
import { type Metrics, RouteMetrics } from "../metrics.js";
import { CallerRateLimiter, type RateStore } from "../store/rate-limit.js";
import { type AnswerWriter, answerWriter, errorAnswer } from "./answers.js";
import { AwsUpstream } from "./aws-upstream.js";
import type { HeldBodyBudget } from "./held-body.js";
import { PlainUpstream } from "./plain-upstream.js";
import type { AuthorizedExchange, PreparedRequest, UpstreamStrategy } from "./upstream.js";

/** A route with everything the request pipeline needs, compiled once from the config. */
export interface ProxyRoute extends CompiledRoute {
  readonly mode: RouteConfig["auth"]["mode"];
  readonly tokenSource: TokenSource;
  readonly rules: AuthRules;
  readonly upstream: UpstreamStrategy;
  readonly metrics: RouteMetrics;
  /** The route's per-caller limit, if it has one. */
  readonly rateLimit?: CallerRateLimiter;
  /** How this route's refusals are written: cupbearer's JSON, or its AWS service's dialect. */
  readonly answer: AnswerWriter;
  /** Set when the route answers CORS preflights and adds CORS headers to its answers. */
  readonly cors: CorsRules | undefined;
}

/** What compiling routes needs beyond the config: process-wide state that outlives a reload. */
export interface RouteTableDeps {
  /** The config's identity pools, by id. */
  readonly identityPools: ReadonlyMap<string, IdentityPoolTarget>;
  readonly heldBodies: HeldBodyBudget;
  readonly metrics: Metrics;
  /** The fleet's shared store: rate limits are fleet-wide through it. */
  readonly store?: RateStore;
  /** Signs identity assertions, when `assertions` is configured. */
  readonly assertions?: AssertionSigner;
}

/** The route id of requests no route matched, in metrics and logs. */
export const NO_ROUTE = "none";

/**
 * The routes of one config, compiled: immutable, so a request keeps the routes it started with
 * even if the config is replaced meanwhile.
 */
export class RouteTable {
  readonly routes: readonly ProxyRoute[];
  /** The identity headers of every route, lower case: removed from every request. */
  readonly identityHeaderNames: readonly string[];
  /** Metrics of requests no route matched. */
  readonly unmatched: RouteMetrics;
  /** Some route's path has capitals: every path is then matched with and without letter case. */
  readonly #capitals: boolean = false;
  /** Path-style S3 routes, each with its twin that refuses a virtual-hosted request for its bucket. */
  readonly #pathStyleS3: ReadonlyArray<{ matches: CompiledRoute["matches"]; refusing: ProxyRoute }>;

  constructor(config: Config, deps: RouteTableDeps) {
    // Identity headers of every route are removed from every request, whichever route it takes.
    const identityNames = new Set<string>(STANDARD_IDENTITY_HEADERS);
    for (const r of config.routes)
      for (const h of Object.keys(r.auth.claimHeaders)) identityNames.add(h.toLowerCase());
    // So are the signed ones: only cupbearer writes an assertion or an ALB header.
    for (const h of [...ALB_HEADERS, DEFAULT_ASSERTION_HEADER]) identityNames.add(h);
    for (const r of config.routes)
      if (r.auth.assertion) identityNames.add(r.auth.assertion.header.toLowerCase());
    this.identityHeaderNames = [...identityNames];
    const filter = requestHeaderFilter(identityNames);
    // Signers are shared by every route of one (service, region): their key caches too.
    const signers = new Map<string, Signer>();
    // One writer per dialect, shared by the routes that speak it.
    const writers = new Map<string, AnswerWriter>();
    const writerFor = (service: string | undefined): AnswerWriter => {
      const dialect = service === undefined ? undefined : serviceDialect(service);
      if (service === undefined || dialect === undefined) return errorAnswer;
      let writer = writers.get(service);
      if (writer === undefined) {
        writer = answerWriter(dialect);
        writers.set(service, writer);
      }
      return writer;
    };
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
          // The token header passes only as spelled; a route may forward rewrite headers it names.
          filter: requestHeaderFilter(identityNames, {
            guard: tokenSource.headerName === undefined ? [] : [tokenSource.headerName],
            allowRewrite: r.forwardRewriteHeaders,
          }),
          stripToken: r.auth.mode !== "public" && r.auth.forwardToken === false ? tokenSource : undefined,
          claimHeaders: Object.entries(r.auth.claimHeaders).map(([h, c]) => [h.toLowerCase(), c] as const),
          trustForwardedHeaders: config.listen.trustForwardedHeaders,
          ...(deps.assertions &&
            (r.auth.assertion !== undefined || r.auth.albHeaders) && {
              assertions: {
                signer: deps.assertions,
                routeId: r.id,
                header: r.auth.assertion?.header.toLowerCase(),
                alb: r.auth.albHeaders,
              },
            }),
          sessionCookie: config.sessions?.cookie.name,
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
      const perCaller = r.rateLimit?.perCaller;
      const limited = deps.metrics.rateLimited.labels({ route: r.id });
      const rateLimit =
        perCaller &&
        new CallerRateLimiter({
          route: r.id,
          rule: { ...perCaller, burst: perCaller.burst ?? perCaller.requests },
          ...(deps.store && { store: deps.store }),
          onLimited: () => limited.inc(),
        });
      const answer = writerFor(aws?.service);
      const cors = r.cors === undefined ? undefined : compileCors(r.cors);
      return {
        ...route,
        mode: r.auth.mode,
        tokenSource,
        rules: compileRules(r.auth),
        upstream,
        metrics,
        ...(rateLimit && { rateLimit }),
        answer,
        cors,
      };
    });
    this.unmatched = new RouteMetrics(deps.metrics, NO_ROUTE);
    this.#capitals = this.routes.some((r) => r.patternHasCapitals);
    this.#pathStyleS3 = this.routes
      .filter((_, i) => {
        const r = config.routes[i];
        return r?.upstream.aws?.service === "s3" && (r.upstream.s3?.addressing ?? "path") === "path";
      })
      .map((route) => ({
        matches: route.matches,
        refusing: { ...route, upstream: new VirtualHostedRefusal(route.upstream) },
      }));
  }

  /** Normalizes the target (a `bad_path` Refusal when ambiguous) and finds the first matching route. */
  match(hostHeader: string | undefined, method: string, target: string): RouteMatch<ProxyRoute> | undefined {
    const found = matchRoute(this.routes, hostHeader, method, target, this.#capitals, standIn);
    if (found !== undefined || this.#pathStyleS3.length === 0 || !target.startsWith("/")) return found;
    // An SDK left on virtual-hosted addressing puts the bucket in the Host: when that bucket is one
    // a path-style route serves, say so (in S3's dialect) instead of answering "no route".
    const bucket = virtualHostedBucket(hostHeader);
    if (bucket === undefined) return undefined;
    const guess = matchRoute(this.#pathStyleS3, hostHeader, method, `/${bucket}${target}`);
    return guess && { route: guess.route.refusing, path: guess.path, query: guess.query };
  }
}

/** The first label of a Host that could be a bucket's (not an IP address, at least two labels). */
function virtualHostedBucket(hostHeader: string | undefined): string | undefined {
  const host = hostName(hostHeader);
  if (host.includes(":") || /^[0-9.]+$/.test(host)) return undefined;
  const dot = host.indexOf(".");
  const label = host.slice(0, dot);
  return dot > 0 && /^[a-z0-9][a-z0-9-]*$/.test(label) ? label : undefined;
}

/** The twin of a path-style S3 route's upstream for virtual-hosted requests: refuses them all. */
class VirtualHostedRefusal implements UpstreamStrategy {
  readonly upgrades = false;
  readonly kind: string;
  readonly origin: string;
  readonly timeoutMs: number;

  constructor(of: UpstreamStrategy) {
    this.kind = of.kind;
    this.origin = of.origin;
    this.timeoutMs = of.timeoutMs;
  }

  prepare(_exchange: AuthorizedExchange): PreparedRequest {
    throw new Refusal("virtual_hosted", "the bucket is in the Host: use path-style addressing");
  }
}

const standIn = (a: ProxyRoute, b: ProxyRoute) => mayStandIn(a.config, b.config);

function awsFilter(filter: RequestHeaderFilter, tokenSource: TokenSource): RequestHeaderFilter {
  const names = [...filter.drop, ...AWS_REPLACED_HEADERS];
  if (tokenSource.headerName !== undefined) names.push(tokenSource.headerName);
  return requestHeaderFilter(names);
}
