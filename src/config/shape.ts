import { z } from "zod";
import { DYNAMODB_OPERATIONS } from "../core/dynamodb-scope.js";
import { parseCidr } from "../core/forward-auth.js";
import { REWRITE_HEADERS } from "../core/header-names.js";
import { parseHostPort } from "../core/host-port.js";
import { normalizeTarget } from "../core/path.js";
import { parseSigningKey } from "../core/signing-key.js";
import { IDENTITY_POOL_ID, REGION, USER_POOL_ID } from "./ids-and-urls.js";
import type { Config } from "./types.js";

/**
 * The configuration's shape: types, ranges, defaults, and the checks of one value at a time.
 * Checks that compare two keys are in cross-checks.ts. Every key is documented in
 * config/README.md and in types.ts; all three change together. Objects are strict so a misspelt
 * key is an error, never silently ignored.
 */

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

const REWRITE_HEADER_LIST = [
  "X-HTTP-Method-Override",
  "X-HTTP-Method",
  "X-Method-Override",
  "X-Original-URL",
  "X-Rewrite-URL",
  "X-Envoy-Original-Path",
].join(", ");

/** An id: what routes, issuers and pools are named by. */
export const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
const HOST_PATTERN = /^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;
const METHOD = /^[A-Z]{1,20}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
/** An AWS signing name (the `service` part of a SigV4 credential scope). */
const SERVICE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
/** The placeholders `s3.keyPrefix` may hold; braces without `$`, so `${ENV}` never collides. */
const KEY_PREFIX_PLACEHOLDERS = new Set(["{identityId}", "{sub}"]);

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
/** RFC 6749 §3.3 scope-token: printable ASCII without space, `"` or `\\`, so it can be quoted in a challenge. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]*$/;
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

const noQuery = httpUrl.refine((v) => !v.includes("?") && !v.includes("#"), {
  error: "must not have a query or fragment",
});

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
    .enum(["required", "optional", "public", "authenticate"], {
      error: "expected required, optional, public or authenticate",
    })
    .default("required"),
  issuers: z
    .array(id, { error: "expected a list of issuer ids" })
    .min(1, { error: "must not be empty" })
    .optional(),
  tokenUse: z.enum(["access", "id", "any"], { error: "expected access, id or any" }).default("any"),
  scopes: z
    .array(
      str().regex(SCOPE_TOKEN, {
        error: 'expected a scope: printable ASCII without spaces, " or \\',
      }),
      { error: "expected a list of strings" },
    )
    .default([]),
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
  assertion: z.strictObject({ header: headerName.default("X-Cupbearer-Assertion") }).optional(),
  albHeaders: bool.default(false),
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

const rateLimit = z.strictObject({
  perCaller: z.strictObject({
    requests: intIn(1, 1_000_000),
    perSeconds: intIn(1, 86_400).default(1),
    burst: intIn(1, 1_000_000).optional(),
  }),
});

/** An origin as browsers send it in `Origin`: scheme, host and port only, lower case, no trailing slash. */
const origin = z.string({ error: "expected an origin" }).refine(
  (v) => {
    if (v === "*") return true;
    try {
      const u = new URL(v);
      return (u.protocol === "http:" || u.protocol === "https:") && u.origin === v;
    } catch {
      return false;
    }
  },
  { error: "expected an origin like https://app.example.com (scheme, host and port only) or *" },
);

/** A listed header name: `*` is refused, since browsers never let it cover Authorization (Fetch standard). */
const corsHeader = headerName.refine((v) => v !== "*", {
  error: "list the header names: * does not cover Authorization",
});

const cors = z.strictObject({
  allowOrigins: z
    .array(origin, { error: "expected a list of origins" })
    .min(1, { error: "must not be empty" }),
  allowMethods: z
    .array(z.string().regex(METHOD, { error: "expected an HTTP method in capitals" }), {
      error: "expected a list of HTTP methods",
    })
    .default(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
  allowHeaders: z
    .array(corsHeader, { error: "expected a list of header names" })
    .default(["Authorization", "Content-Type"]),
  exposeHeaders: z.array(corsHeader, { error: "expected a list of header names" }).default([]),
  allowCredentials: bool.default(false),
  maxAgeSeconds: intIn(0, 86_400).default(600),
});

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
        .array(
          z
            .string()
            .regex(METHOD, { error: "expected an HTTP method in capitals" })
            .refine((m) => m !== "CONNECT", {
              error: "CONNECT is never proxied: cupbearer opens no tunnels",
            }),
          { error: "expected a list of HTTP methods" },
        )
        .min(1, { error: "must not be empty (leave it out to match every method)" })
        .optional(),
      caseSensitive: bool.default(false),
    })
    .refine((m) => !(m.path !== undefined && m.pathPrefix !== undefined), {
      error: "expected path or pathPrefix, not both",
    })
    .prefault({}),
  upstream,
  stripPrefix: bool.default(false),
  forwardRewriteHeaders: z
    .array(
      z.string({ error: "expected a header name" }).refine((h) => REWRITE_HEADERS.includes(h.toLowerCase()), {
        error: `expected one of ${REWRITE_HEADER_LIST}`,
      }),
      { error: "expected a list of header names" },
    )
    .default([]),
  auth: auth.prefault({}),
  rateLimit: rateLimit.optional(),
  cors: cors.optional(),
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
  maxTokenLifetimeSeconds: intIn(60, 2_592_000).default(86_400),
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

/** 32 bytes in base64 or base64url: 43 characters and an optional "=". */
const storeKey = z
  .string({ error: "expected a key" })
  .refine((v) => /^[A-Za-z0-9+/_-]{43}=?$/.test(v) && Buffer.from(v, "base64").length === 32, {
    error: "expected 32 bytes in base64 (openssl rand -base64 32)",
  });

const redisUrl = z.string({ error: "expected a URL" }).refine(
  (v) => {
    try {
      const u = new URL(v);
      return (u.protocol === "redis:" || u.protocol === "rediss:") && u.hostname !== "";
    } catch {
      return false;
    }
  },
  { error: "expected a redis:// or rediss:// URL" },
);

/** `host:port` of a Sentinel or a Cluster node. */
const address = z
  .string({ error: "expected host:port" })
  .refine((v) => parseHostPort(v) !== undefined, { error: "expected host:port (a port from 1 to 65535)" });

/** A password or user name; empty (an unset `${VAR:-}`) means none. */
const credential = (what: string) => z.string({ error: `expected ${what}` }).max(512, { error: "too long" });

const sentinel = z.strictObject({
  name: z
    .string({ error: "expected a master name" })
    .regex(/^[A-Za-z0-9_.:-]{1,128}$/, { error: "expected 1 to 128 letters, digits or _ . : -" }),
  sentinels: z
    .array(address, { error: "expected a list of host:port" })
    .min(1, { error: "expected at least one Sentinel" })
    .max(16, { error: "expected at most 16 Sentinels" }),
  username: credential("a user name").optional(),
  password: credential("a password").optional(),
  sentinelUsername: credential("a user name").optional(),
  sentinelPassword: credential("a password").optional(),
  tls: bool.default(false),
  sentinelTls: bool.default(false),
});

const cluster = z.strictObject({
  nodes: z
    .array(address, { error: "expected a list of host:port" })
    .min(1, { error: "expected at least one node" })
    .max(64, { error: "expected at most 64 nodes" }),
  username: credential("a user name").optional(),
  password: credential("a password").optional(),
  tls: bool.default(false),
});

const redisStore = z
  .strictObject({
    url: redisUrl.optional(),
    sentinel: sentinel.optional(),
    cluster: cluster.optional(),
    keyPrefix: z
      .string({ error: "expected a key prefix" })
      .regex(/^[A-Za-z0-9_.:{}-]{1,64}$/, {
        error: "expected 1 to 64 letters, digits or _ . : { } -",
      })
      .default("cupbearer:"),
    // Empty entries are dropped: `${STORE_KEY_PREVIOUS:-}` names a key only while rotating.
    encryptionKeys: z.preprocess(
      (v) => (Array.isArray(v) ? v.filter((k) => k !== "") : v),
      z
        .array(storeKey, { error: "expected a list of keys" })
        .min(1, { error: "expected at least one key" })
        .max(8, { error: "expected at most 8 keys" }),
    ),
    timeoutMs: intIn(10, 10_000).default(250),
    lockWaitMs: intIn(100, 60_000).default(3_000),
  })
  .refine((r) => [r.url, r.sentinel, r.cluster].filter((x) => x !== undefined).length === 1, {
    error: "expected exactly one of url, sentinel or cluster",
  });

const store = z.strictObject({ redis: redisStore });

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

const listenTls = z
  .strictObject({
    certFile: str("a file path"),
    keyFile: str("a file path"),
    caFile: str("a file path").optional(),
    clientAuth: z.enum(["none", "require"], { error: "expected none or require" }).default("none"),
  })
  .refine((t) => t.clientAuth !== "require" || t.caFile !== undefined, {
    error: "clientAuth: require needs caFile",
  });

const forwardAuth = z.strictObject({
  path: routePath.default("/_cupbearer/auth"),
  ingress: z.enum(["nginx", "traefik", "envoy"], { error: "expected nginx, traefik or envoy" }),
  listener: z.enum(["main", "admin"], { error: "expected main or admin" }).default("main"),
  trustedSources: z
    .array(
      z.string({ error: "expected a CIDR" }).refine((v) => parseCidr(v) !== undefined, {
        error: "expected a CIDR like 10.0.0.0/8 or fd00::/8, or one address",
      }),
      { error: "expected a list of CIDRs" },
    )
    .min(1, { error: "must not be empty: list the addresses of the ingress" }),
});

/** An inline signing key: checked here, so `check` names a wrong one; never echoed. */
const signingKey = z.string({ error: "expected a PEM private key or a JWK" }).superRefine((v, ctx) => {
  const key = parseSigningKey(v);
  if (typeof key === "string") ctx.addIssue({ code: "custom", message: key, input: "(hidden)" });
});

const assertionKey = z
  .strictObject({ privateKey: signingKey.optional(), privateKeyFile: str("a file path").optional() })
  .refine((k) => (k.privateKey === undefined) !== (k.privateKeyFile === undefined), {
    error: "expected exactly one of privateKey or privateKeyFile",
  });

const assertions = z.strictObject({
  issuer: str("a name like https://cupbearer.example").max(256, { error: "expected at most 256 characters" }),
  // Entries with an empty privateKey are dropped: `${OLD_ASSERTION_KEY:-}` names a key only while rotating.
  keys: z.preprocess(
    (v) =>
      Array.isArray(v)
        ? v.filter(
            (k) =>
              !(typeof k === "object" && k !== null && (k as { privateKey?: unknown }).privateKey === ""),
          )
        : v,
    z
      .array(assertionKey, { error: "expected a list of keys" })
      .min(1, { error: "expected at least one key" })
      .max(8, { error: "expected at most 8 keys" }),
  ),
  lifetimeSeconds: intIn(5, 60).default(60),
  cacheMaxEntries: intIn(0, 1_000_000).default(10_000),
});

/** A cookie name: an RFC 6265 token. */
const COOKIE_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

const sessions = z.strictObject({
  issuer: id,
  clientId: str("a client id"),
  clientSecret: str("a client secret").optional(),
  scopes: z
    .array(str().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, { error: "expected a scope" }), {
      error: "expected a list of strings",
    })
    .refine((s) => s.includes("openid"), { error: "must include openid" })
    .default(["openid", "email", "profile"]),
  callbackPath: routePath.default("/oauth2/callback"),
  signOutPath: routePath.default("/oauth2/sign_out"),
  startPath: routePath.default("/oauth2/start"),
  logoutUri: noQuery.optional(),
  publicOrigin: httpUrl
    .refine((v) => new URL(v).origin === v.replace(/\/$/, ""), {
      error: "expected an origin: scheme, host and port only",
    })
    .optional(),
  refreshBeforeSeconds: intIn(0, 3600).default(60),
  timeoutMs: intIn(100, 60_000).default(5_000),
  cookie: z.strictObject({
    name: z
      .string({ error: "expected a cookie name" })
      .regex(COOKIE_NAME, { error: "expected a cookie name: at most 64 token characters" })
      .default("__Host-cupbearer"),
    keys: z
      .array(
        // A refinement, not a length: the JSON Schema sees `${ENV}` before interpolation.
        z
          .string({ error: "expected a string" })
          .refine((k) => k.length >= 32, { error: "must be at least 32 characters long" }),
        { error: "expected a list of strings" },
      )
      .min(1, { error: "must not be empty" })
      .max(8, { error: "expected at most 8 keys" }),
    maxAgeSeconds: intIn(60, 2_592_000).default(28_800),
  }),
});

/** The whole document's shape; `parseConfig` adds the cross-checks. */
export const configSchema = z.strictObject({
  listen: hostPort("0.0.0.0", 8080)
    .extend({ trustForwardedHeaders: bool.default(false), tls: listenTls.optional() })
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
  store: store.optional(),
  forwardAuth: forwardAuth.optional(),
  assertions: assertions.optional(),
  sessions: sessions.optional(),
});

/** True when A and B are the same type (not merely assignable one way). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

// Compile-time: what the shape produces is exactly the documented `Config` of types.ts, key for
// key, optional for optional, both ways. A change to either without the other fails `tsc` here.
true satisfies Same<z.output<typeof configSchema>, Config>;
