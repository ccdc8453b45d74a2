/**
 * `cupbearer dev`: a whole config from a few command-line flags, for putting a user pool in front
 * of a service under development in one line. Pure: flags in, a validated Config out, through the
 * same `parseConfig` as a file, so every limit and check of the schema applies.
 */
import { parseConfig } from "./config/schema.js";
import { type Config, ConfigError } from "./config/types.js";

/** The `cupbearer dev` flags, as given on the command line (numbers still strings). */
export interface DevArgs {
  /** `--upstream URL`: the service to protect. Required. */
  upstream?: string | undefined;
  /** `--issuer URL|POOL_ID`: an issuer URL, or a Cognito user pool id like `eu-west-1_AbCdEf123`. Required. */
  issuer?: string | undefined;
  /** `--client-id ID`, repeatable: accept only these app clients (default: every client of the issuer). */
  clientIds?: readonly string[] | undefined;
  /** `--port P`: where to listen (default 8080). */
  port?: string | undefined;
  /** `--host H`: the address to listen on (default 127.0.0.1: a dev proxy stays on this machine). */
  host?: string | undefined;
  /** `--admin-port P`: /healthz, /readyz and /metrics, always on 127.0.0.1 (default 9090). */
  adminPort?: string | undefined;
}

export const DEV_DEFAULTS = {
  host: "127.0.0.1",
  port: 8080,
  adminHost: "127.0.0.1",
  adminPort: 9090,
} as const;

/** The ids `cupbearer dev` gives its one issuer and its one route (they show in logs and metrics). */
export const DEV_ISSUER_ID = "dev";
export const DEV_ROUTE_ID = "dev";

// The issuer Cognito puts in its tokens, so a pasted issuer URL of a real pool gets Cognito's own
// rules (token_use must be id or access) exactly as the pool id would.
const COGNITO_ISSUER = /^https:\/\/cognito-idp\.([a-z0-9-]+)\.amazonaws\.com\/([^/]+)$/;
const ISSUER_HINT =
  "an issuer URL (exactly as in the tokens' iss) or a user pool id like eu-west-1_AbCdEf123";

/** Which flag each config path comes from, so a problem names what the developer typed. */
const FLAG_OF: ReadonlyArray<readonly [RegExp, string]> = [
  [/^listen\.port$/, "--port"],
  [/^listen\.host$/, "--host"],
  [/^admin\.port$/, "--admin-port"],
  [/^routes\[0\]\.upstream(\.url)?$/, "--upstream"],
  [/^issuers\[0\]\.clientIds(\[\d+\])?$/, "--client-id"],
  [/^issuers\[0\]/, "--issuer"],
];

/**
 * `cupbearer dev` flags → the Config it runs: one issuer, one route taking every path to the
 * upstream, a token required (any token use). Throws a ConfigError whose problems are written
 * in flags (`--port: expected a number from 0 to 65535`).
 */
export function devConfig(args: DevArgs): Config {
  const { upstream, issuer } = args;
  if (!upstream || !issuer) {
    const missing: string[] = [];
    if (!upstream) missing.push("--upstream: required: the service to protect, e.g. http://127.0.0.1:3000");
    if (!issuer) missing.push(`--issuer: required: ${ISSUER_HINT}`);
    throw new ConfigError(missing);
  }

  const clientIds = args.clientIds ?? [];
  const input = {
    listen: { host: args.host ?? DEV_DEFAULTS.host, port: args.port ?? DEV_DEFAULTS.port },
    admin: { host: DEV_DEFAULTS.adminHost, port: args.adminPort ?? DEV_DEFAULTS.adminPort },
    log: { level: "info" },
    issuers: [
      {
        id: DEV_ISSUER_ID,
        ...issuerSource(issuer),
        ...(clientIds.length > 0 ? { clientIds: [...clientIds] } : { anyClient: true }),
      },
    ],
    routes: [
      {
        id: DEV_ROUTE_ID,
        match: {},
        upstream,
        auth: { mode: "required", tokenUse: "any" },
      },
    ],
  };
  try {
    return parseConfig(input);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError([...new Set(err.problems.map(inFlags))]);
  }
}

/** `--issuer` → the issuer's config keys: a pool id or a Cognito issuer URL → `cognito`; any other URL → `issuer` + `jwksUri`. */
function issuerSource(value: string): Record<string, unknown> {
  const cognito = COGNITO_ISSUER.exec(value);
  if (cognito) return { cognito: { region: cognito[1], userPoolId: cognito[2] } };
  if (!value.includes("://")) {
    // A pool id carries its region: eu-west-1_AbCdEf123. The schema checks both.
    const underscore = value.indexOf("_");
    return { cognito: { region: underscore > 0 ? value.slice(0, underscore) : value, userPoolId: value } };
  }
  // The issuer is kept exactly as given: it is compared with `iss` as a string.
  return { issuer: value, jwksUri: `${value.replace(/\/$/, "")}/.well-known/jwks.json` };
}

/** `listen.port: expected …` → `--port: expected …`; problems of the issuer's shape get one plain hint. */
function inFlags(problem: string): string {
  const at = problem.indexOf(": ");
  const path = problem.slice(0, at);
  const why = problem.slice(at + 2);
  const flag = FLAG_OF.find(([pattern]) => pattern.test(path))?.[1];
  if (flag === undefined) return problem;
  if (flag === "--issuer" && path.startsWith("issuers[0].cognito.") && why.startsWith("expected")) {
    return `--issuer: expected ${ISSUER_HINT}`;
  }
  if (flag === "--issuer" && why.startsWith("plain http")) {
    return "--issuer: plain http is allowed only for loopback hosts (127.0.0.1, localhost, [::1]); use https";
  }
  if (why === "must differ from listen.port") return `${flag}: must differ from --port`;
  return `${flag}: ${why}`;
}

/** The line `cupbearer dev` prints once listening: what is protected, where, by whom. */
export function devBanner(config: Config, ports: { port: number; adminPort: number }): string {
  const url = (host: string, port: number) => `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const issuer = config.issuers[0];
  const route = config.routes[0];
  if (issuer === undefined || route === undefined) throw new Error("not a dev config");
  const who = issuer.cognito ? `user pool ${issuer.cognito.userPoolId}` : issuer.issuer;
  const ids = issuer.clientIds ?? [];
  const clients = ids.length === 0 ? "any client" : `client${ids.length === 1 ? "" : "s"} ${ids.join(", ")}`;
  return (
    `cupbearer dev: ${url(config.listen.host, ports.port)} → ${route.upstream.url}, ` +
    `every path needs a token of ${who} (${clients}); ` +
    `admin ${url(config.admin.host, ports.adminPort)}\n`
  );
}
