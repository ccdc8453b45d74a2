import { z } from "zod";
import { DYNAMODB_OPERATIONS } from "../core/dynamodb-scope.js";
import { normalizeTarget } from "../core/path.js";

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
};

// Messages in cupbearer's words where a schema below does not give its own: "expected a mapping",
// never zod's "Invalid input: expected object, received number".
z.config({
  customError: (issue) => {
    if (issue.code === "invalid_type") return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    if (issue.code === "invalid_union") return "has the wrong type";
    return undefined;
  },
});

/**
 * The configuration's schema: its shape, its defaults and its cross-checks, in one place.
 * Every key is documented in config/README.md; the two must change together.
 * Objects are strict so a misspelt key is an error, never silently ignored.
 */

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
const HOST_PATTERN = /^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const USER_POOL_ID = /^([a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$/;
const METHOD = /^[A-Z]{1,20}$/;
/** `<region>:<uuid>`, the form Cognito gives identity pool ids. */
const IDENTITY_POOL_ID =
  /^([a-z]{2}(?:-[a-z]+)+-\d+):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
/** An AWS signing name (the `service` part of a SigV4 credential scope). */
const SERVICE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
/** The placeholders `s3.keyPrefix` may hold; braces without `$`, so `${ENV}` never collides. */
const KEY_PREFIX_PLACEHOLDERS = new Set(["{identityId}", "{sub}"]);
const STANDARD_IDENTITY_HEADERS = new Set([
  "x-auth-request-user",
  "x-auth-request-email",
  "x-auth-request-groups",
]);
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

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

/** Numbers may come from `${ENV}` interpolation as strings of digits. */
const intIn = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v),
    z
      .number({ error: "expected a whole number" })
      .int({ error: "expected a whole number" })
      .min(min, { error: `expected a number from ${min} to ${max}` })
      .max(max, { error: `expected a number from ${min} to ${max}` }),
  );

const bool = z.preprocess(
  (v) => (v === "true" ? true : v === "false" ? false : v),
  z.boolean({ error: "expected true or false" }),
);

const str = (what = "a string") =>
  z.string({ error: `expected ${what}` }).min(1, { error: "must not be empty" });
const id = z.string({ error: "expected an id" }).regex(ID, {
  error: "expected an id: letters, digits, '.', '_' or '-', at most 64 characters",
});
const stringList = z.array(str(), { error: "expected a list of strings" });
const port = intIn(0, 65535);
const region = z
  .string({ error: "expected a region" })
  .regex(REGION, { error: "expected a region like eu-west-1" });
const roleArn = z
  .string({ error: "expected a role ARN" })
  .regex(ROLE_ARN, { error: "expected an IAM role ARN like arn:aws:iam::123456789012:role/name" });

/** A route path: origin-form, already unambiguous, no query or fragment. */
const routePath = str("a path").refine(
  (p) => {
    if (!p.startsWith("/") || p.includes("?") || p.includes("#")) return false;
    try {
      normalizeTarget(p);
      return true;
    } catch {
      return false;
    }
  },
  { error: "expected a path starting with /, without query, fragment or ambiguous segments" },
);

const httpUrl = z.string({ error: "expected a URL" }).refine(
  (v) => {
    try {
      const u = new URL(v);
      return (u.protocol === "http:" || u.protocol === "https:") && u.username === "" && u.password === "";
    } catch {
      return false;
    }
  },
  { error: "expected an http:// or https:// URL without credentials" },
);

const headerName = z
  .string({ error: "expected a header name" })
  .regex(HEADER_NAME, { error: "expected a header name" });

const hostPort = (host: string, defaultPort: number) =>
  z.strictObject({ host: str("a host").default(host), port: port.default(defaultPort) });

const tokenSource = z
  .strictObject({
    header: headerName.optional(),
    cookie: str("a cookie name").optional(),
    query: str().optional(),
  })
  .refine((t) => [t.header, t.cookie, t.query].filter((x) => x !== undefined).length === 1, {
    error: "expected exactly one of header, cookie or query",
  });

const auth = z.strictObject({
  mode: z
    .enum(["required", "optional", "public"], { error: "expected required, optional or public" })
    .default("required"),
  issuers: z
    .array(id, { error: "expected a list of issuer ids" })
    .min(1, { error: "must not be empty" })
    .optional(),
  tokenUse: z.enum(["access", "id", "any"], { error: "expected access, id or any" }).default("any"),
  scopes: stringList.default([]),
  groups: stringList.default([]),
  claims: z
    .record(
      str("a claim name"),
      z.union([z.string(), z.number(), z.boolean()], { error: "expected a string, number or boolean" }),
      {
        error: "expected a map of claim names to strings, numbers or booleans",
      },
    )
    .default({}),
  token: tokenSource.default({ header: "authorization" }),
  // No default: left out means "forward" on plain routes, while an AWS route must be able to
  // tell an explicit `true` (an error there) from silence.
  forwardToken: bool.optional(),
  claimHeaders: z
    .record(headerName, str("a claim name"), { error: "expected a map of header names to claim names" })
    .default({}),
});

const noQuery = httpUrl.refine((v) => !v.includes("?") && !v.includes("#"), {
  error: "must not have a query or fragment",
});

const awsUpstream = z.strictObject({
  service: z
    .string({ error: "expected a service signing name like s3 or dynamodb" })
    .regex(SERVICE, { error: "expected a service signing name like s3 or dynamodb" }),
  region,
  identityPool: id,
  maxBodyBytes: intIn(0, 1_073_741_824).default(16_777_216),
});

/**
 * The key prefix every caller is confined to. It must end in "/" so `private/ab` cannot also
 * admit `private/abc…`, and its only braces are the two placeholders.
 */
const keyPrefix = str("a key prefix").superRefine((v, ctx) => {
  const problem = (message: string) => ctx.addIssue({ code: "custom", message, input: v });
  if (v === "") return;
  if (v.startsWith("/")) problem("must not start with /: object keys are written without one");
  if (!v.endsWith("/")) {
    problem("must end with /: a prefix that ends inside a name would also match longer names");
  }
  for (const match of v.matchAll(/\{[^{}]*\}|[{}]/g)) {
    const [found] = match;
    if (KEY_PREFIX_PLACEHOLDERS.has(found)) {
      // "{sub}-x/" or "{sub}{identityId}/": two callers' values could spell one prefix.
      const next = v[match.index + found.length];
      // At the end or before a stray "}", the problems above already say what is wrong.
      if (next !== undefined && next !== "/" && next !== "}") {
        problem(`${found} must be followed by /: its value must be a whole folder name`);
      }
      continue;
    }
    problem(
      found.length === 1
        ? `has a stray "${found}": the only placeholders are {identityId} and {sub}`
        : `has an unknown placeholder ${JSON.stringify(found)}: the only placeholders are {identityId} and {sub}`,
    );
  }
  if (/\p{Cc}/u.test(v)) problem("must not contain control characters");
  const segments = v.replace(/^\/+/, "").split("/").slice(0, -1);
  if (segments.some((seg) => seg === "" || seg === "." || seg === "..")) {
    problem("must not contain empty, . or .. segments: request paths are normalized, so no key would match");
  }
});

const s3Upstream = z.strictObject({
  keyPrefix: keyPrefix.optional(),
  addressing: z.enum(["path", "virtual"], { error: "expected path or virtual" }).optional(),
});

const dynamodbUpstream = z.strictObject({
  tables: z
    .array(
      z.string({ error: "expected a table name" }).regex(TABLE_NAME, {
        error: "expected a table name: 3 to 255 letters, digits, '_', '-' or '.'",
      }),
      { error: "expected a list of table names" },
    )
    .min(1, { error: "must not be empty (leave it out to allow every table)" })
    .optional(),
  operations: z
    .array(
      z.string({ error: "expected a DynamoDB operation name" }).superRefine((v, ctx) => {
        if (!DYNAMODB_OPERATIONS.has(v)) {
          ctx.addIssue({
            code: "custom",
            input: v,
            message: `unknown DynamoDB operation "${v}" (names are case-sensitive, like GetItem)`,
          });
        }
      }),
      { error: "expected a list of DynamoDB operation names" },
    )
    .min(1, { error: "must not be empty (leave it out to allow every operation)" })
    .optional(),
});

const upstream = z.preprocess(
  (v) => (typeof v === "string" ? { url: v } : v),
  z.strictObject(
    {
      url: noQuery,
      timeoutMs: intIn(1, 3_600_000).optional(),
      aws: awsUpstream.optional(),
      s3: s3Upstream.optional(),
      dynamodb: dynamodbUpstream.optional(),
    },
    { error: "expected a URL or an object with url" },
  ),
);

const route = z.strictObject({
  id,
  match: z
    .strictObject({
      pathPrefix: routePath.optional(),
      path: routePath.optional(),
      hosts: z
        .array(z.string().regex(HOST_PATTERN, { error: "expected a host name or *.domain" }), {
          error: "expected a list of host names",
        })
        .min(1, { error: "must not be empty (leave it out to match every host)" })
        .optional(),
      methods: z
        .array(z.string().regex(METHOD, { error: "expected an HTTP method in capitals" }), {
          error: "expected a list of HTTP methods",
        })
        .min(1, { error: "must not be empty (leave it out to match every method)" })
        .optional(),
    })
    .refine((m) => !(m.path !== undefined && m.pathPrefix !== undefined), {
      error: "expected path or pathPrefix, not both",
    })
    .prefault({}),
  upstream,
  stripPrefix: bool.default(false),
  auth: auth.prefault({}),
});

const issuer = z.strictObject({
  id,
  cognito: z
    .strictObject({
      region,
      userPoolId: z
        .string({ error: "expected a user pool id" })
        .regex(USER_POOL_ID, { error: "expected a user pool id like eu-west-1_AbCdEf123" }),
    })
    .optional(),
  issuer: httpUrl.optional(),
  jwksUri: httpUrl.optional(),
  clientIds: stringList.min(1, { error: "must not be empty" }).optional(),
  anyClient: bool.default(false),
  allowInsecureHttp: bool.default(false),
});

const identityPool = z.strictObject({
  id,
  identityPoolId: z.string({ error: "expected an identity pool id" }).regex(IDENTITY_POOL_ID, {
    error: "expected an identity pool id like eu-west-1:11111111-2222-3333-4444-555555555555",
  }),
  region,
  endpoint: noQuery.optional(),
  flow: z.enum(["enhanced", "basic"], { error: "expected enhanced or basic" }).default("enhanced"),
  roles: z
    .strictObject({
      byGroup: z
        .record(str("a group name"), roleArn, { error: "expected a map of group names to role ARNs" })
        .default({}),
      basicFlowDefault: roleArn.optional(),
    })
    .prefault({}),
  allowGuests: bool.default(false),
  timeoutMs: intIn(100, 60_000).default(5_000),
  cacheMaxEntries: intIn(1, 1_000_000).default(10_000),
});

const limits = z.strictObject({
  maxHeaderBytes: intIn(1024, 1_048_576).default(16_384),
  maxTokenBytes: intIn(256, 65_536).default(8_192),
  headersTimeoutMs: intIn(100, 600_000).default(10_000),
  requestTimeoutMs: intIn(100, 3_600_000).default(60_000),
  keepAliveTimeoutMs: intIn(100, 600_000).default(5_000),
  upstreamTimeoutMs: intIn(1, 3_600_000).default(30_000),
  upstreamConnectTimeoutMs: intIn(1, 600_000).default(5_000),
  maxConnectionsPerUpstream: intIn(1, 100_000).default(256),
  maxClientConnections: intIn(1, 1_000_000).default(10_000),
  maxHeldBodyBytes: intIn(1_048_576, 17_179_869_184).default(268_435_456),
});

const tokens = z.strictObject({
  clockSkewSeconds: intIn(0, 300).default(30),
  cacheMaxEntries: intIn(0, 1_000_000).default(10_000),
  jwksTimeoutMs: intIn(100, 60_000).default(5_000),
  jwksMaxBytes: intIn(1024, 10_485_760).default(1_048_576),
  unknownKidWaitSeconds: intIn(1, 3600).default(10),
  jwksRefreshSeconds: intIn(60, 86_400).default(3600),
});

export const configSchema = z
  .strictObject({
    listen: hostPort("0.0.0.0", 8080)
      .extend({ trustForwardedHeaders: bool.default(false) })
      .strict()
      .prefault({}),
    admin: hostPort("127.0.0.1", 9090).prefault({}),
    log: z
      .strictObject({
        level: z
          .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"], {
            error: "expected trace, debug, info, warn, error, fatal or silent",
          })
          .default("info"),
      })
      .prefault({}),
    limits: limits.prefault({}),
    tokens: tokens.prefault({}),
    shutdown: z.strictObject({ drainTimeoutMs: intIn(0, 600_000).default(10_000) }).prefault({}),
    issuers: z.array(issuer, { error: "expected a list of issuers" }).default([]),
    identityPools: z.array(identityPool, { error: "expected a list of identity pools" }).default([]),
    routes: z
      .array(route, { error: "expected a list of routes" })
      .min(1, { error: "expected at least one route" }),
  })
  // The cross-checks run even when some values have the wrong type (`when`), so one `check`
  // reports every problem; each item is checked on its own, so a malformed one skips only itself.
  .superRefine(
    (config, ctx) => {
      const problem = (path: (string | number)[], message: string) =>
        ctx.addIssue({ code: "custom", path, message });
      // References to issuers are checked only when every issuer has a usable id.
      const issuersValid =
        Array.isArray(config.issuers) &&
        config.issuers.every((i) => typeof i?.id === "string" && ID.test(i.id));

      const issuerIds = new Set<string>();
      const issuerUrls = new Set<string>();
      eachItem(config.issuers, (iss, i) => {
        if (issuerIds.has(iss.id)) problem(["issuers", i, "id"], `duplicate issuer id "${iss.id}"`);
        issuerIds.add(iss.id);
        const url = issuerUrl(iss);
        if (url !== undefined && issuerUrls.has(url)) problem(["issuers", i], `duplicate issuer ${url}`);
        if (url !== undefined) issuerUrls.add(url);
        if ((iss.cognito === undefined) === (iss.issuer === undefined)) {
          problem(["issuers", i], "expected exactly one of cognito or issuer");
        }
        if (iss.issuer !== undefined && iss.jwksUri === undefined) {
          problem(["issuers", i, "jwksUri"], "required with issuer");
        }
        if (iss.cognito) {
          const poolRegion = USER_POOL_ID.exec(iss.cognito.userPoolId)?.[1];
          if (
            poolRegion !== undefined &&
            REGION.test(iss.cognito.region) &&
            poolRegion !== iss.cognito.region
          ) {
            problem(
              ["issuers", i, "cognito", "userPoolId"],
              `belongs to region ${poolRegion}, not ${iss.cognito.region}`,
            );
          }
        }
        if (iss.clientIds === undefined && !iss.anyClient) {
          problem(
            ["issuers", i, "clientIds"],
            "required: list the app clients whose tokens are accepted, or set anyClient: true",
          );
        }
        if (iss.clientIds !== undefined && iss.anyClient) {
          problem(["issuers", i, "anyClient"], "contradicts clientIds");
        }
        for (const key of ["issuer", "jwksUri"] as const) {
          const url = iss[key];
          if (url === undefined || iss.allowInsecureHttp) continue;
          const u = safeUrl(url);
          if (u?.protocol === "http:" && !LOOPBACK_HOSTS.has(u.hostname)) {
            problem(
              ["issuers", i, key],
              "plain http is allowed only for loopback hosts unless allowInsecureHttp is true",
            );
          }
        }
      });

      // As with issuers: pool references are checked only when every pool has a usable id.
      const poolsValid =
        Array.isArray(config.identityPools) &&
        config.identityPools.every((p) => typeof p?.id === "string" && ID.test(p.id));
      const pools = new Map<string, IdentityPoolConfig>();
      eachItem(config.identityPools, (pool, i) => {
        if (pools.has(pool.id))
          problem(["identityPools", i, "id"], `duplicate identity pool id "${pool.id}"`);
        else pools.set(pool.id, pool);
        const poolRegion = IDENTITY_POOL_ID.exec(pool.identityPoolId)?.[1];
        if (poolRegion !== undefined && REGION.test(pool.region) && poolRegion !== pool.region) {
          problem(
            ["identityPools", i, "identityPoolId"],
            `belongs to region ${poolRegion}, not ${pool.region}`,
          );
        }
        const endpoint = pool.endpoint === undefined ? undefined : safeUrl(pool.endpoint);
        if (endpoint?.protocol === "http:" && !LOOPBACK_HOSTS.has(endpoint.hostname)) {
          problem(
            ["identityPools", i, "endpoint"],
            "plain http is allowed only for loopback hosts: tokens and credentials cross this connection",
          );
        }
        if (!isObject(pool.roles)) return;
        if (pool.flow === "basic" && pool.roles.basicFlowDefault === undefined) {
          problem(
            ["identityPools", i, "roles", "basicFlowDefault"],
            "required with flow: basic, for callers whose groups have no role in byGroup",
          );
        }
        if (pool.flow === "enhanced" && pool.roles.basicFlowDefault !== undefined) {
          problem(
            ["identityPools", i, "roles", "basicFlowDefault"],
            "basic flow only: the enhanced flow falls back to the identity pool's own role settings",
          );
        }
      });

      const routeIds = new Set<string>();
      eachItem(config.routes, (r, i) => {
        if (routeIds.has(r.id)) problem(["routes", i, "id"], `duplicate route id "${r.id}"`);
        routeIds.add(r.id);
        const a = r.auth;
        r.auth.issuers?.forEach((issuerId, j) => {
          if (issuersValid && !issuerIds.has(issuerId))
            problem(["routes", i, "auth", "issuers", j], `unknown issuer "${issuerId}"`);
        });
        if (a.mode !== "public" && issuersValid && config.issuers.length === 0) {
          problem(["routes", i, "auth", "mode"], `${a.mode} needs at least one entry in issuers`);
        }
        if (a.mode === "public") {
          const rules = (["issuers", "scopes", "groups", "claims", "claimHeaders"] as const).filter((k) => {
            const v = a[k];
            return v !== undefined && Object.keys(v).length > 0;
          });
          const keys: string[] = a.tokenUse === "any" ? [...rules] : ["tokenUse", ...rules];
          if (a.token.header?.toLowerCase() !== "authorization") keys.push("token");
          if (a.forwardToken === false) keys.push("forwardToken");
          for (const k of keys) problem(["routes", i, "auth", k], "has no effect on a public route");
        }
        const claimHeaderNames = new Set<string>();
        for (const name of Object.keys(a.claimHeaders)) {
          const lower = name.toLowerCase();
          if (claimHeaderNames.has(lower)) {
            problem(["routes", i, "auth", "claimHeaders", name], "is named twice (header names ignore case)");
          }
          claimHeaderNames.add(lower);
          if (RESERVED_HEADERS.has(lower))
            problem(["routes", i, "auth", "claimHeaders", name], "is a reserved header");
          if (STANDARD_IDENTITY_HEADERS.has(lower)) {
            problem(["routes", i, "auth", "claimHeaders", name], "is set by cupbearer itself");
          }
        }
        if (r.stripPrefix && r.match.pathPrefix === undefined) {
          problem(["routes", i, "stripPrefix"], "needs match.pathPrefix");
        }
        checkAwsUpstream(r, ["routes", i], problem, poolsValid ? pools : undefined);
      });

      try {
        const anyHost = (h: string) => h === "0.0.0.0" || h === "::";
        const sameHost =
          config.listen.host === config.admin.host ||
          anyHost(config.listen.host) ||
          anyHost(config.admin.host);
        if (config.listen.port !== 0 && config.listen.port === config.admin.port && sameHost) {
          problem(["admin", "port"], "must differ from listen.port");
        }
        if (config.limits.headersTimeoutMs > config.limits.requestTimeoutMs) {
          problem(["limits", "headersTimeoutMs"], "must not exceed limits.requestTimeoutMs");
        }
        eachItem(config.routes, (r, i) => {
          const aws = r.upstream.aws;
          const max = aws?.maxBodyBytes;
          // S3 bodies stream through; every other service's body is held to be hashed. A value
          // out of its own range has its own error already.
          if (
            aws !== undefined &&
            aws.service !== "s3" &&
            Number.isInteger(max) &&
            (max as number) <= 1_073_741_824 &&
            (max as number) > config.limits.maxHeldBodyBytes
          ) {
            problem(
              ["routes", i, "upstream", "aws", "maxBodyBytes"],
              "must not exceed limits.maxHeldBodyBytes",
            );
          }
        });
      } catch {
        // listen, admin or limits malformed: their own errors say so.
      }
    },
    { when: () => true },
  );

/**
 * The cross-checks of a route with `upstream.aws`, `s3` or `dynamodb`. `pools` is undefined when
 * some pool id is unusable, so no reference to a pool can be judged.
 */
function checkAwsUpstream(
  r: RouteConfig,
  at: (string | number)[],
  problem: (path: (string | number)[], message: string) => void,
  pools: ReadonlyMap<string, IdentityPoolConfig> | undefined,
): void {
  const up: unknown = r.upstream;
  if (typeof up !== "object" || up === null) return;
  const { aws, s3, dynamodb } = r.upstream;
  const service = isObject(aws) && typeof aws.service === "string" ? aws.service : undefined;
  // A malformed service has its own error; comparing it here would only repeat that.
  const serviceKnown = aws === undefined || (service !== undefined && SERVICE.test(service));
  if (s3 !== undefined && serviceKnown && service !== "s3") {
    problem([...at, "upstream", "s3"], "needs upstream.aws with service: s3");
  }
  if (dynamodb !== undefined && serviceKnown && service !== "dynamodb") {
    problem([...at, "upstream", "dynamodb"], "needs upstream.aws with service: dynamodb");
  }
  if (!isObject(aws)) return;

  const a = r.auth;
  const poolId =
    typeof aws.identityPool === "string" && ID.test(aws.identityPool) ? aws.identityPool : undefined;
  const pool = poolId === undefined ? undefined : pools?.get(poolId);
  if (poolId !== undefined && pools !== undefined && pool === undefined) {
    problem([...at, "upstream", "aws", "identityPool"], `unknown identity pool "${poolId}"`);
  }
  const url = typeof r.upstream.url === "string" ? safeUrl(r.upstream.url) : undefined;
  if (url?.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname)) {
    problem(
      [...at, "upstream", "url"],
      "must be https unless its host is loopback: signed requests carry a session token",
    );
  }
  if (!isObject(a)) return;
  if ((a.mode === "optional" || a.mode === "public") && pool !== undefined && pool.allowGuests !== true) {
    problem(
      [...at, "auth", "mode"],
      `${a.mode} needs guests, but identity pool "${pool.id}" has allowGuests: false`,
    );
  }
  if (a.forwardToken === true) {
    problem(
      [...at, "auth", "forwardToken"],
      "has no effect on an AWS route: the token is never forwarded to AWS",
    );
  }
  const keyPrefix = isObject(s3) && typeof s3.keyPrefix === "string" ? s3.keyPrefix : undefined;
  if (a.mode === "public" && keyPrefix !== undefined && /\{(sub|identityId)\}/.test(keyPrefix)) {
    // Every caller of a public route is a guest: no sub, and one identity id shared by all.
    problem(
      [...at, "upstream", "s3", "keyPrefix"],
      "has a placeholder, but every caller of a public route is a guest, and guests share one identity: use a fixed prefix",
    );
  }
  // A bucket in the host (bucket.s3.<region>.amazonaws.com) with path addressing would read the
  // first key segment as a bucket: confinement would judge a different key than S3 serves.
  if (
    keyPrefix !== undefined &&
    url !== undefined &&
    /^[^.]+(\.[^.]+)*\.s3([.-]|$)/.test(url.hostname) &&
    isObject(s3) &&
    s3.addressing !== "virtual"
  ) {
    problem(
      [...at, "upstream", "s3", "addressing"],
      "must be virtual: the upstream's host names a bucket (bucket.s3.…)",
    );
  }
  // On a public route, tokenUse and claimHeaders already have their own "no effect" error.
  if (a.mode === "public") return;
  if (a.tokenUse === "access") {
    problem([...at, "auth", "tokenUse"], "must be id or any: identity pools take ID tokens");
  }
  if (isObject(a.claimHeaders) && Object.keys(a.claimHeaders).length > 0) {
    problem(
      [...at, "auth", "claimHeaders"],
      "has no effect on an AWS route: identity headers are never sent to AWS",
    );
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The exact `iss` an issuer's tokens carry. */
export function issuerUrl(iss: {
  cognito?: { region: string; userPoolId: string } | undefined;
  issuer?: string | undefined;
}): string | undefined {
  if (iss.cognito) return `https://cognito-idp.${iss.cognito.region}.amazonaws.com/${iss.cognito.userPoolId}`;
  return iss.issuer;
}

/** Runs `check` on each item of what should be a list, skipping items too malformed to check. */
function eachItem<T>(list: readonly T[], check: (item: T, index: number) => void): void {
  if (!Array.isArray(list)) return;
  list.forEach((item: T, i) => {
    try {
      check(item, i);
    } catch {
      // A value of the wrong type inside this item: its own error is already reported.
    }
  });
}

function safeUrl(v: string): URL | undefined {
  try {
    return new URL(v);
  } catch {
    return undefined;
  }
}

export type Config = z.output<typeof configSchema>;
export type RouteConfig = Config["routes"][number];
export type AuthConfig = RouteConfig["auth"];
export type IssuerConfig = Config["issuers"][number];
export type TokenUse = AuthConfig["tokenUse"];
export type IdentityPoolConfig = Config["identityPools"][number];
export type UpstreamConfig = RouteConfig["upstream"];
export type AwsUpstreamConfig = NonNullable<UpstreamConfig["aws"]>;

/** Thrown with every problem found, each as `path: why`. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** `["routes", 1, "auth"]` → `routes[1].auth` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const s = String(seg);
      const plain = /^[A-Za-z_][A-Za-z0-9_]*$/.test(s);
      out += plain ? (out === "" ? s : `.${s}`) : `[${JSON.stringify(s)}]`;
    }
  }
  return out === "" ? "(top level)" : out;
}

/** unknown → Config, or a ConfigError naming every wrong key. */
export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input ?? {}, { reportInput: true });
  if (result.success) return result.data;
  const problems: string[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) problems.push(`${formatPath([...issue.path, key])}: unknown key`);
    } else if (issue.code === "invalid_type" && issue.input === undefined) {
      problems.push(`${formatPath(issue.path)}: required`);
    } else {
      problems.push(`${formatPath(issue.path)}: ${issue.message}`);
    }
  }
  throw new ConfigError(problems);
}
