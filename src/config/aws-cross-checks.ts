import { isRemoteHttp } from "./ids-and-urls.js";
import { eachPart, ok, type Part } from "./parts.js";
import type { Report } from "./problems.js";
import type { Config, IdentityPoolConfig, RouteConfig } from "./types.js";

/**
 * The cross-checks of routes with `upstream.aws`, `s3` or `dynamodb`: the settings only an AWS
 * route takes, its identity pool, and the auth rules that mean nothing (or cannot work) when
 * requests are signed with the caller's AWS credentials. Like every cross-check, they read only
 * parts the shape accepted (parts.ts).
 */

/** The identity pools by id; undefined when some pool has no usable id, so no reference can be judged. */
export type PoolsById = ReadonlyMap<string, Part<IdentityPoolConfig>> | undefined;

/** `<bucket>.s3.<region>.amazonaws.com` and the like: a host that names a bucket. */
const BUCKET_HOST = /^[^.]+(\.[^.]+)*\.s3([.-]|$)/;
const PLACEHOLDER = /\{(sub|identityId)\}/;

/** Checks the route at `at` when its upstream is (or names settings of) an AWS service. */
export function checkAwsRoute(
  r: Part<RouteConfig>,
  at: (string | number)[],
  pools: PoolsById,
  issuerIds: ReadonlySet<string> | undefined,
  report: Report,
): void {
  const up = r.upstream;
  if (!ok(up)) return;
  const { aws, s3, dynamodb } = up;
  // Undefined without `aws`; a malformed `aws` or service has its own error, not repeated here.
  const service = aws === undefined || !ok(aws) ? aws : aws.service;
  if (s3 !== undefined && ok(service) && service !== "s3") {
    report([...at, "upstream", "s3"], "needs upstream.aws with service: s3");
  }
  if (dynamodb !== undefined && ok(service) && service !== "dynamodb") {
    report([...at, "upstream", "dynamodb"], "needs upstream.aws with service: dynamodb");
  }
  if (aws === undefined || !ok(aws)) return;

  const poolId = ok(aws.identityPool) ? aws.identityPool : undefined;
  const pool = poolId === undefined ? undefined : pools?.get(poolId);
  if (poolId !== undefined && pools !== undefined && pool === undefined) {
    report([...at, "upstream", "aws", "identityPool"], `unknown identity pool "${poolId}"`);
  }
  const url = ok(up.url) ? up.url : undefined;
  if (url !== undefined && isRemoteHttp(url)) {
    report(
      [...at, "upstream", "url"],
      "must be https unless its host is loopback: signed requests carry a session token",
    );
  }
  const a = r.auth;
  if (!ok(a)) return;
  if ((a.mode === "optional" || a.mode === "public") && pool?.allowGuests === false) {
    report(
      [...at, "auth", "mode"],
      `${a.mode} needs guests, but identity pool "${poolId}" has allowGuests: false`,
    );
  }
  const rewrite = r.forwardRewriteHeaders;
  if (rewrite !== undefined && ok(rewrite) && rewrite.length > 0) {
    report([...at, "forwardRewriteHeaders"], "has no effect on an AWS route: AWS never reads them");
  }
  if (a.forwardToken === true) {
    report(
      [...at, "auth", "forwardToken"],
      "has no effect on an AWS route: the token is never forwarded to AWS",
    );
  }
  const s3Parts = s3 !== undefined && ok(s3) ? s3 : undefined;
  const keyPrefix = s3Parts?.keyPrefix !== undefined && ok(s3Parts.keyPrefix) ? s3Parts.keyPrefix : undefined;
  if (a.mode === "public" && keyPrefix !== undefined && PLACEHOLDER.test(keyPrefix)) {
    // Every caller of a public route is a guest: no sub, and one identity id shared by all.
    report(
      [...at, "upstream", "s3", "keyPrefix"],
      "has a placeholder, but every caller of a public route is a guest, and guests share one identity: use a fixed prefix",
    );
  }
  // `sub` is unique only within one user pool: two issuers' callers could share one folder.
  const issuerCount =
    a.issuers === undefined ? issuerIds?.size : ok(a.issuers) ? a.issuers.length : undefined;
  if (a.mode !== "public" && keyPrefix?.includes("{sub}") && issuerCount !== undefined && issuerCount > 1) {
    report(
      [...at, "upstream", "s3", "keyPrefix"],
      "has {sub}, but the route accepts more than one issuer and a sub is unique only within one: use {identityId} or name one issuer in auth.issuers",
    );
  }
  // A bucket in the host with path addressing would read the first key segment as a bucket:
  // confinement would judge a different key than S3 serves.
  const addressing = s3Parts?.addressing;
  if (
    keyPrefix !== undefined &&
    url !== undefined &&
    BUCKET_HOST.test(new URL(url).hostname) &&
    addressing !== "virtual" &&
    ok(addressing)
  ) {
    report(
      [...at, "upstream", "s3", "addressing"],
      "must be virtual: the upstream's host names a bucket (bucket.s3.…)",
    );
  }
  // On a public route, tokenUse and claimHeaders already have their own "no effect" error.
  if (a.mode !== "required" && a.mode !== "optional") return;
  if (a.tokenUse === "access") {
    report([...at, "auth", "tokenUse"], "must be id or any: identity pools take ID tokens");
  }
  if (ok(a.claimHeaders) && Object.keys(a.claimHeaders).length > 0) {
    report(
      [...at, "auth", "claimHeaders"],
      "has no effect on an AWS route: identity headers are never sent to AWS",
    );
  }
}

/**
 * S3 bodies stream through; every other service's body is held whole to be hashed, so a route's
 * `maxBodyBytes` may not exceed what all held bodies together may take.
 */
export function checkHeldBodies({ routes, limits }: Part<Config>, report: Report): void {
  if (!ok(limits) || !ok(limits.maxHeldBodyBytes)) return;
  const held = limits.maxHeldBodyBytes;
  eachPart(routes, (r, i) => {
    const aws = ok(r.upstream) ? r.upstream.aws : undefined;
    if (aws === undefined || !ok(aws) || !ok(aws.service) || !ok(aws.maxBodyBytes)) return;
    if (aws.service !== "s3" && aws.maxBodyBytes > held) {
      report(["routes", i, "upstream", "aws", "maxBodyBytes"], "must not exceed limits.maxHeldBodyBytes");
    }
  });
}
