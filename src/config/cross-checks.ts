import { checkAwsRoute, checkHeldBodies, type PoolsById } from "./aws-cross-checks.js";
import { isRemoteHttp, issuerUrl, regionOfPoolId } from "./ids-and-urls.js";
import { eachPart, ok, type Part, type Parts } from "./parts.js";
import type { Problem, Report } from "./problems.js";
import { checkSessions } from "./session-checks.js";
import type {
  AuthConfig,
  Config,
  CorsConfig,
  IdentityPoolConfig,
  IssuerConfig,
  RouteConfig,
} from "./types.js";

/**
 * The checks that compare keys with each other: duplicate ids, references to issuers and identity
 * pools, rules that have no effect where they are written, equal ports, limits that contradict.
 * They read only the parts the shape accepted (see parts.ts), so they run alongside the shape and
 * one `check` reports everything, while a part the shape refused is skipped by every check that
 * reads it. Nothing here catches exceptions: one thrown is a bug.
 */

/** Headers cupbearer owns or that describe the connection: a claim may not be mapped onto them. */
const RESERVED_HEADERS = new Set([
  "authorization",
  "host",
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "content-type",
  "cookie",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-request-id",
  "forwarded",
  "expect",
]);
const STANDARD_IDENTITY_HEADERS = new Set([
  "x-auth-request-user",
  "x-auth-request-email",
  "x-auth-request-groups",
]);
/** The `auth` keys that are rules, and so mean nothing on a public route. */
const RULES = ["issuers", "scopes", "groups", "claims", "claimHeaders"] as const;
/** ALB's headers (x-amzn-oidc-data, -identity, -accesstoken): only `albHeaders` sets them. */
const ALB_PREFIX = "x-amzn-oidc-";

/** Every cross-field problem of the well-formed parts of `config`. */
export function crossCheck(config: Parts<Config>): Problem[] {
  const problems: Problem[] = [];
  if (!ok(config)) return problems;
  const report: Report = (path, message) => problems.push({ path, message });
  const issuerIds = checkIssuers(config.issuers, report);
  const pools = checkIdentityPools(config.identityPools, report);
  const routeIds = new Set<string>();
  eachPart(config.routes, (route, i) => {
    const at = ["routes", i];
    if (ok(route.id)) {
      if (routeIds.has(route.id)) report([...at, "id"], `duplicate route id "${route.id}"`);
      routeIds.add(route.id);
    }
    checkRoute(route, at, issuerIds, pools, report);
  });
  checkAssertionUse(config, report);
  checkListeners(config, report);
  checkForwardAuth(config, report);
  checkSessions(config, report);
  checkLimits(config, report);
  checkHeldBodies(config, report);
  return problems;
}

/**
 * Checks each issuer; returns their ids, or undefined when some issuer has no usable id: then no
 * reference to an issuer can be judged.
 */
function checkIssuers(list: Parts<IssuerConfig[]>, report: Report): ReadonlySet<string> | undefined {
  const ids = new Set<string>();
  const urls = new Set<string>();
  eachPart(list, (iss, i) => {
    if (ok(iss.id)) {
      if (ids.has(iss.id)) report(["issuers", i, "id"], `duplicate issuer id "${iss.id}"`);
      ids.add(iss.id);
    }
    const { cognito } = iss;
    const pool =
      cognito !== undefined && ok(cognito) && ok(cognito.region) && ok(cognito.userPoolId)
        ? { region: cognito.region, userPoolId: cognito.userPoolId }
        : undefined;
    const url = cognito === undefined ? iss.issuer : pool && issuerUrl({ cognito: pool });
    if (url !== undefined && ok(url)) {
      if (urls.has(url)) report(["issuers", i], `duplicate issuer ${url}`);
      urls.add(url);
    }
    if ((cognito === undefined) === (iss.issuer === undefined)) {
      report(["issuers", i], "expected exactly one of cognito or issuer");
    }
    if (iss.issuer !== undefined && iss.jwksUri === undefined) {
      report(["issuers", i, "jwksUri"], "required with issuer");
    }
    const poolRegion = pool && regionOfPoolId(pool.userPoolId);
    if (pool !== undefined && poolRegion !== pool.region) {
      report(["issuers", i, "cognito", "userPoolId"], `belongs to region ${poolRegion}, not ${pool.region}`);
    }
    if (iss.clientIds === undefined && iss.anyClient === false) {
      report(
        ["issuers", i, "clientIds"],
        "required: list the app clients whose tokens are accepted, or set anyClient: true",
      );
    }
    if (iss.clientIds !== undefined && iss.anyClient === true) {
      report(["issuers", i, "anyClient"], "contradicts clientIds");
    }
    for (const key of ["issuer", "jwksUri"] as const) {
      const url = iss[key];
      if (url !== undefined && ok(url) && iss.allowInsecureHttp === false && isRemoteHttp(url)) {
        report(
          ["issuers", i, key],
          "plain http is allowed only for loopback hosts unless allowInsecureHttp is true",
        );
      }
    }
  });
  return everyIdUsable(list) ? ids : undefined;
}

/** Checks each identity pool; returns them by id, or undefined as with issuers. */
function checkIdentityPools(list: Parts<IdentityPoolConfig[]>, report: Report): PoolsById {
  const pools = new Map<string, Part<IdentityPoolConfig>>();
  eachPart(list, (pool, i) => {
    if (ok(pool.id)) {
      if (pools.has(pool.id)) report(["identityPools", i, "id"], `duplicate identity pool id "${pool.id}"`);
      else pools.set(pool.id, pool);
    }
    if (ok(pool.identityPoolId) && ok(pool.region)) {
      const poolRegion = regionOfPoolId(pool.identityPoolId);
      if (poolRegion !== pool.region) {
        report(["identityPools", i, "identityPoolId"], `belongs to region ${poolRegion}, not ${pool.region}`);
      }
    }
    if (pool.endpoint !== undefined && ok(pool.endpoint) && isRemoteHttp(pool.endpoint)) {
      report(
        ["identityPools", i, "endpoint"],
        "plain http is allowed only for loopback hosts: tokens and credentials cross this connection",
      );
    }
    const { roles } = pool;
    if (!ok(roles)) return;
    if (pool.flow === "basic" && roles.basicFlowDefault === undefined) {
      report(
        ["identityPools", i, "roles", "basicFlowDefault"],
        "required with flow: basic, for callers whose groups have no role in byGroup",
      );
    }
    if (pool.flow === "enhanced" && roles.basicFlowDefault !== undefined) {
      report(
        ["identityPools", i, "roles", "basicFlowDefault"],
        "basic flow only: the enhanced flow falls back to the identity pool's own role settings",
      );
    }
  });
  return everyIdUsable(list) ? pools : undefined;
}

function everyIdUsable(list: Parts<{ id: string }[]>): boolean {
  return ok(list) && list.every((item) => ok(item) && ok(item.id));
}

function checkRoute(
  r: Part<RouteConfig>,
  at: (string | number)[],
  issuerIds: ReadonlySet<string> | undefined,
  pools: PoolsById,
  report: Report,
): void {
  if (ok(r.auth)) checkAuth(r.auth, [...at, "auth"], issuerIds, report);
  if (r.stripPrefix === true && ok(r.match) && r.match.pathPrefix === undefined) {
    report([...at, "stripPrefix"], "needs match.pathPrefix");
  }
  checkAwsRoute(r, at, pools, issuerIds, report);
  if (r.cors !== undefined && ok(r.cors)) checkCors(r.cors, [...at, "cors"], report);
}

/** `*` stands alone, and never with credentials: browsers refuse that answer (Fetch standard, CORS protocol). */
function checkCors(c: Part<CorsConfig>, at: (string | number)[], report: Report): void {
  if (!ok(c.allowOrigins) || !c.allowOrigins.includes("*")) return;
  if (c.allowOrigins.length > 1)
    report([...at, "allowOrigins"], "* stands alone: it already allows every origin");
  if (c.allowCredentials === true) {
    report(
      [...at, "allowCredentials"],
      "contradicts allowOrigins: * (list the origins that may send credentials)",
    );
  }
}

function checkAuth(
  a: Part<AuthConfig>,
  at: (string | number)[],
  issuerIds: ReadonlySet<string> | undefined,
  report: Report,
): void {
  eachPart(a.issuers ?? [], (issuerId, j) => {
    if (issuerIds !== undefined && !issuerIds.has(issuerId)) {
      report([...at, "issuers", j], `unknown issuer "${issuerId}"`);
    }
  });
  if (
    (a.mode === "required" || a.mode === "optional" || a.mode === "authenticate") &&
    issuerIds?.size === 0
  ) {
    report([...at, "mode"], `${a.mode} needs at least one entry in issuers`);
  }
  // A group, scope or claim value means something only within one issuer: another pool may
  // hand out a group of the same name to anyone.
  if (a.mode !== "public" && a.issuers === undefined && issuerIds !== undefined && issuerIds.size > 1) {
    for (const k of ["scopes", "groups", "claims"] as const) {
      const v = a[k];
      if (ok(v) && Object.keys(v).length > 0) {
        report(
          [...at, k],
          "needs auth.issuers: with more than one issuer, name those whose tokens it judges",
        );
      }
    }
  }
  if (a.mode === "public") {
    const rules = RULES.filter((k) => {
      const v = a[k];
      return v !== undefined && ok(v) && Object.keys(v).length > 0;
    });
    const keys: string[] = ok(a.tokenUse) && a.tokenUse !== "any" ? ["tokenUse", ...rules] : [...rules];
    const { token } = a;
    if (ok(token) && ok(token.header) && token.header?.toLowerCase() !== "authorization") keys.push("token");
    if (a.forwardToken === false) keys.push("forwardToken");
    if (a.assertion !== undefined) keys.push("assertion");
    if (a.albHeaders === true) keys.push("albHeaders");
    for (const k of keys) report([...at, k], "has no effect on a public route");
  }
  if (!ok(a.claimHeaders)) return;
  const names = new Set<string>();
  for (const name of Object.keys(a.claimHeaders)) {
    const lower = name.toLowerCase();
    if (names.has(lower)) report([...at, "claimHeaders", name], "is named twice (header names ignore case)");
    names.add(lower);
    if (RESERVED_HEADERS.has(lower)) report([...at, "claimHeaders", name], "is a reserved header");
    if (STANDARD_IDENTITY_HEADERS.has(lower) || lower.startsWith(ALB_PREFIX))
      report([...at, "claimHeaders", name], "is set by cupbearer itself");
  }
  const assertion = a.assertion;
  if (assertion !== undefined && ok(assertion) && ok(assertion.header)) {
    const lower = assertion.header.toLowerCase();
    const where = [...at, "assertion", "header"];
    if (RESERVED_HEADERS.has(lower)) report(where, "is a reserved header");
    else if (STANDARD_IDENTITY_HEADERS.has(lower) || lower.startsWith(ALB_PREFIX))
      report(where, "is set by cupbearer itself");
    else if (names.has(lower)) report(where, "is also a claimHeaders name");
    const { token } = a;
    if (ok(token) && token.header !== undefined && ok(token.header) && token.header.toLowerCase() === lower)
      report(where, "is the header the token is read from");
  }
}

/**
 * `auth.assertion` and `auth.albHeaders` need the keys of `assertions`, and a plain upstream: an
 * AWS service reads neither, and its requests are signed with SigV4 instead.
 */
function checkAssertionUse({ routes, assertions }: Part<Config>, report: Report): void {
  eachPart(routes, (r, i) => {
    if (!ok(r.auth)) return;
    for (const key of ["assertion", "albHeaders"] as const) {
      const v = r.auth[key];
      // A malformed value is the shape's to report.
      if (v === undefined || v === false || !ok(v)) continue;
      const at = ["routes", i, "auth", key];
      if (assertions === undefined) report(at, "needs assertions: the keys that sign it");
      if (ok(r.upstream) && r.upstream.aws !== undefined)
        report(
          at,
          "plain routes only: an AWS service reads no assertion (its requests are signed with SigV4)",
        );
    }
  });
}

/** Two listeners on one port of one address cannot both bind. Hosts are compared as written. */
function checkListeners({ listen, admin }: Part<Config>, report: Report): void {
  if (!ok(listen) || !ok(admin)) return;
  const { host, port } = listen;
  if (!ok(host) || !ok(port) || !ok(admin.host) || !ok(admin.port)) return;
  const anyHost = (h: string) => h === "0.0.0.0" || h === "::";
  const sameHost = host === admin.host || anyHost(host) || anyHost(admin.host);
  if (port !== 0 && port === admin.port && sameHost)
    report(["admin", "port"], "must differ from listen.port");
}

/** The admin listener's own paths stay its own. */
const ADMIN_PATHS = new Set(["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json"]);
/** The admin listener's PEM keys for ALB clients: `/.well-known/alb-keys/<kid>`. */
const ADMIN_PREFIX = "/.well-known/alb-keys/";

function checkForwardAuth({ forwardAuth }: Part<Config>, report: Report): void {
  if (forwardAuth === undefined || !ok(forwardAuth) || !ok(forwardAuth.path)) return;
  const { path } = forwardAuth;
  // With envoy the path is a prefix: every path under it is the endpoint's.
  const under = (p: string) => forwardAuth.ingress === "envoy" && p.startsWith(`${path}/`);
  const ownPath =
    ADMIN_PATHS.has(path) || path.startsWith(ADMIN_PREFIX) || [...ADMIN_PATHS, ADMIN_PREFIX].some(under);
  if (forwardAuth.listener === "admin" && ownPath) {
    report(["forwardAuth", "path"], "is one of the admin listener's own paths");
  }
  // Envoy appends the original path, which begins with "/": a prefix ending in one gives "//".
  if (forwardAuth.ingress === "envoy" && forwardAuth.path.endsWith("/")) {
    report(
      ["forwardAuth", "path"],
      "must not end with / when ingress is envoy (Envoy appends the original path)",
    );
  }
}

function checkLimits({ limits }: Part<Config>, report: Report): void {
  if (!ok(limits) || !ok(limits.headersTimeoutMs) || !ok(limits.requestTimeoutMs)) return;
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    report(["limits", "headersTimeoutMs"], "must not exceed limits.requestTimeoutMs");
  }
}
