import { z } from "zod";
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
  forwardToken: bool.default(true),
  claimHeaders: z
    .record(headerName, str("a claim name"), { error: "expected a map of header names to claim names" })
    .default({}),
});

const upstream = z.preprocess(
  (v) => (typeof v === "string" ? { url: v } : v),
  z.strictObject(
    {
      url: httpUrl.refine((v) => !v.includes("?") && !v.includes("#"), {
        error: "must not have a query or fragment",
      }),
      timeoutMs: intIn(1, 3_600_000).optional(),
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
      region: z
        .string({ error: "expected a region" })
        .regex(REGION, { error: "expected a region like eu-west-1" }),
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
          if (!a.forwardToken) keys.push("forwardToken");
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
      } catch {
        // listen, admin or limits malformed: their own errors say so.
      }
    },
    { when: () => true },
  );

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
