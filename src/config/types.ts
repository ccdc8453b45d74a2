/**
 * The validated configuration: what `parseConfig` returns, every default filled in. Each key is
 * documented here as in config/README.md (the reference for users); the two change together.
 * The zod shape in `shape.ts` is checked at compile time to produce exactly these types.
 *
 * This module imports nothing of cupbearer's, so every layer may depend on it.
 */

/** `auth.tokenUse`: which Cognito `token_use` a route accepts. */
export type TokenUse = "access" | "id" | "any";

/**
 * `auth.mode`. `required`: no token is 401; `optional`: no token is forwarded without identity
 * headers, a bad token is still 401; `public`: the token is not looked at; `authenticate`: like
 * `required`, but a browser navigation without a session is sent to sign in (needs `sessions`).
 * ALB's `on-unauthenticated-request` names: `authenticate` = authenticate, `required` = deny,
 * `optional` = allow.
 */
export type AuthMode = "required" | "optional" | "public" | "authenticate";

/** `log.level`: the lowest level written; `warn` and above turn the access log off. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

/** The whole configuration file. */
export interface Config {
  /** The proxy listener. */
  listen: ListenConfig;
  /** The admin listener: `/healthz`, `/readyz`, `/metrics`. */
  admin: AdminConfig;
  /** Logging. */
  log: LogConfig;
  /** Sizes and timeouts of the HTTP side. */
  limits: LimitsConfig;
  /** Token verification: clock skew, cache, JWKS fetching. */
  tokens: TokensConfig;
  /** Graceful stop. */
  shutdown: ShutdownConfig;
  /** The token issuers cupbearer trusts (default `[]`); empty only when every route is public. */
  issuers: IssuerConfig[];
  /** Cognito identity pools that give callers AWS credentials for AWS upstreams (default `[]`). */
  identityPools: IdentityPoolConfig[];
  /** The routes, tried in order; the first whose `match` fits wins. At least one. */
  routes: RouteConfig[];
  /** A store shared by a fleet of cupbearers (default: none, every pod on its own). */
  store?: StoreConfig;
  /** An endpoint that answers an ingress's auth subrequests (default: none). */
  forwardAuth?: ForwardAuthConfig;
  /** Keys and name for signed identity assertions (default: none); needed by `auth.assertion` and `auth.albHeaders`. */
  assertions?: AssertionsConfig;
  /** Browser sign-in through the user pool's hosted UI, kept in a session cookie (default: none). */
  sessions?: SessionsConfig;
}

/**
 * `sessions`: OAuth 2.0 authorization code + PKCE sign-in for browsers (what ALB's
 * `authenticate-cognito` does); the session lives in an encrypted cookie.
 */
export interface SessionsConfig {
  /** The `issuers[].id` whose OIDC discovery document names the endpoints. */
  issuer: string;
  /** The user pool app client's id. */
  clientId: string;
  /** The app client's secret, for confidential clients (default: none, a public client). PKCE always. */
  clientSecret?: string;
  /** The scopes asked for (default `[openid, email, profile]`); must hold `openid`. */
  scopes: string[];
  /** Where the user pool sends the browser back (default `/oauth2/callback`); answered by cupbearer. */
  callbackPath: string;
  /** Signs out (default `/oauth2/sign_out`); answered by cupbearer. */
  signOutPath: string;
  /**
   * Starts a sign-in and returns to `?rd=<path>` (default `/oauth2/start`); answered by cupbearer:
   * ingress-nginx's `auth-signin` for forward-auth.
   */
  startPath: string;
  /**
   * The URL the user pool's `/logout` sends the browser to after sign-out; must be one of the app
   * client's sign-out URLs (default: none: sign-out then ends at cupbearer, the pool's own session stays).
   */
  logoutUri?: string;
  /**
   * The externally visible origin (`https://app.example.com`) the callback URL is built on
   * (default: the request's Host over https, or http for a loopback Host).
   */
  publicOrigin?: string;
  /** Refresh this many seconds before the tokens expire (default 60). */
  refreshBeforeSeconds: number;
  /** Time limit of each call to the user pool's endpoints (default 5000). */
  timeoutMs: number;
  /** The session cookie. */
  cookie: SessionCookieConfig;
}

/** `sessions.cookie`. */
export interface SessionCookieConfig {
  /** The cookie's name (default `__Host-cupbearer`); chunks add `.1`, `.2`, …; the sign-in state uses `<name>-signin`. */
  name: string;
  /** Secrets of at least 32 characters: the first seals new cookies, every one opens (rotation). */
  keys: string[];
  /** How long a session lasts without a new sign-in (default 28800: 8 hours). */
  maxAgeSeconds: number;
}

/**
 * `assertions`: cupbearer signs short-lived ES256 JWTs about the caller for upstreams that must not
 * trust plain headers; their public keys are at the admin listener's `/.well-known/jwks.json`.
 */
export interface AssertionsConfig {
  /** The assertions' `iss` (and ALB's `signer`): cupbearer's name, like `https://cupbearer.example`; 1–256 characters. */
  issuer: string;
  /**
   * P-256 private keys, newest first: the first signs, every one is published (rotation). At
   * least one, at most 8; entries whose `privateKey` is empty (an unset `${VAR:-}`) are dropped.
   */
  keys: AssertionKeyConfig[];
  /** Longest life of one assertion, 5–60 s (default 60); never past the caller's token's `exp`. */
  lifetimeSeconds: number;
  /** Signed assertions kept for reuse, per route and token, 0–1000000 (default 10000); 0 signs every request. */
  cacheMaxEntries: number;
}

/** `assertions.keys[]`: exactly one of `privateKey` and `privateKeyFile`. */
export interface AssertionKeyConfig {
  /** The key itself: PEM (PKCS#8 or SEC1) or a JWK as JSON, usually `${ENV}`. */
  privateKey?: string;
  /** A file holding the key (PEM or JWK), read at start-up and on reload. */
  privateKeyFile?: string;
}

/**
 * `forwardAuth`: an endpoint for ingresses (ingress-nginx `auth-url`, Traefik ForwardAuth, Caddy
 * `forward_auth`, Envoy ext_authz) that answers whether the request they describe passes the
 * routes' rules, without forwarding it.
 */
export interface ForwardAuthConfig {
  /**
   * The endpoint's exact path (default `/_cupbearer/auth`); with `envoy`, the `path_prefix` Envoy
   * is given, and every path under it is the endpoint. On `main` it shadows every route there.
   */
  path: string;
  /**
   * How the original request is described, required: `nginx` reads `X-Original-URL` and
   * `X-Original-Method` (ingress-nginx `auth-url`, nginx `auth_request`); `traefik` reads
   * `X-Forwarded-Method`, `X-Forwarded-Host` and `X-Forwarded-Uri` (Traefik ForwardAuth, Caddy
   * `forward_auth`); `envoy` reads the check request itself: its method, Host, and the path after
   * `path` (Envoy's ext_authz HTTP service with `path_prefix`).
   */
  ingress: "nginx" | "traefik" | "envoy";
  /** The listener that serves it (default `main`); on `admin`, not `/healthz`, `/readyz` or `/metrics`. */
  listener: "main" | "admin";
  /**
   * The addresses allowed to ask, as CIDRs or single addresses; at least one. Only they may
   * describe a request through `X-Original-*` / `X-Forwarded-*`; others get 403.
   */
  trustedSources: string[];
}

/** `store`: what a fleet of cupbearers shares. */
export interface StoreConfig {
  /** A Redis or Valkey server: identity ids, sealed credentials, rate-limit counters. */
  redis: RedisStoreConfig;
}

/** `store.redis`: exactly one of `url`, `sentinel` or `cluster` says where the store is. */
export interface RedisStoreConfig {
  /** One server (or a primary endpoint): `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  url?: string;
  /** A primary found through Redis Sentinel, followed when it fails over. */
  sentinel?: RedisSentinelConfig;
  /** A Redis Cluster (cluster mode enabled): keys spread over its primaries. */
  cluster?: RedisClusterConfig;
  /** Prefix of every key written (default `cupbearer:`), 1–64 characters. */
  keyPrefix: string;
  /**
   * AES-256 keys, each 32 bytes in base64 (`openssl rand -base64 32`), newest first: the first
   * seals, every one opens (rotation). At least one, at most 8; empty entries (an unset
   * `${VAR:-}`) are dropped.
   */
  encryptionKeys: string[];
  /** Longest time one store call may take, 10–10000 ms (default 250); slower counts as down. */
  timeoutMs: number;
  /** Longest wait for another pod's exchange of the same caller, 100–60000 ms (default 3000). */
  lockWaitMs: number;
}

/** `store.redis.sentinel`. Empty user names and passwords (an unset `${VAR:-}`) mean none. */
export interface RedisSentinelConfig {
  /** The master group's name, as the Sentinels know it (`sentinel monitor <name> …`). */
  name: string;
  /** Sentinels as `host:port` (IPv6 in brackets), 1–16; asked in turn for the current primary. */
  sentinels: string[];
  /** User name (ACL) and password of the Redis servers. */
  username?: string;
  password?: string;
  /** User name and password of the Sentinels themselves, when they ask for one. */
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** TLS to the Redis servers (default false); certificates checked against Node's CA store. */
  tls: boolean;
  /** TLS to the Sentinels (default false). */
  sentinelTls: boolean;
}

/** `store.redis.cluster`. Empty user names and passwords mean none. */
export interface RedisClusterConfig {
  /** Some of the cluster's nodes as `host:port`, 1–64: the rest are learnt from them. */
  nodes: string[];
  /** User name (ACL) and password of every node. */
  username?: string;
  password?: string;
  /** TLS to every node (default false). */
  tls: boolean;
}

/** `listen`: the listener clients talk to (HTTP/1.1, plain or with `tls`). */
export interface ListenConfig {
  /** Address to bind (default `0.0.0.0`). Not checked by `check`; a wrong one fails at start-up. */
  host: string;
  /** Port to bind, 0–65535 (default 8080); 0 picks a free port. */
  port: number;
  /**
   * Whether the client's own `X-Forwarded-*` headers are believed (default false). Keep false
   * unless a proxy you control overwrites them.
   */
  trustForwardedHeaders: boolean;
  /** Serve HTTPS instead of plain HTTP (default: plain). Certificates are re-read on reload and on file change. */
  tls?: ListenTlsConfig;
}

/** `listen.tls`: cupbearer terminates TLS itself (PEM files). */
export interface ListenTlsConfig {
  /** The server certificate chain, PEM. */
  certFile: string;
  /** Its private key, PEM (unencrypted). */
  keyFile: string;
  /** CA certificates, PEM, that client certificates must chain to; required with `clientAuth: require`. */
  caFile?: string;
  /** `require`: only clients with a certificate from `caFile` may connect (mTLS); default `none`. */
  clientAuth: "none" | "require";
}

/** `admin`: the admin listener, no authentication, GET and HEAD only. */
export interface AdminConfig {
  /** Address to bind (default `127.0.0.1`). */
  host: string;
  /** Port to bind, 0–65535 (default 9090); differs from `listen.port` when both could share an address. */
  port: number;
}

/** `log`: JSON lines on stdout. */
export interface LogConfig {
  /** Lowest level written (default `info`). */
  level: LogLevel;
}

/** `limits`: sizes and timeouts of the HTTP side. */
export interface LimitsConfig {
  /** Largest header section, 1024–1048576 (default 16384); larger is 431. Node's `maxHeaderSize`. */
  maxHeaderBytes: number;
  /** Longest accepted token in characters, 256–65536 (default 8192); longer is 401. */
  maxTokenBytes: number;
  /** Time to send the header section, 100–600000 ms (default 10000); at most `requestTimeoutMs`. */
  headersTimeoutMs: number;
  /** Time to send the whole request, 100–3600000 ms (default 60000); also sets the idle timeout. */
  requestTimeoutMs: number;
  /** Idle keep-alive time on both sides, 100–600000 ms (default 5000). */
  keepAliveTimeoutMs: number;
  /** Default upstream timeout (to headers, and between body chunks), 1–3600000 ms (default 30000). */
  upstreamTimeoutMs: number;
  /** Time to open a TCP (and TLS) connection to an upstream, 1–600000 ms (default 5000). */
  upstreamConnectTimeoutMs: number;
  /** Most concurrent connections to one upstream origin, 1–100000 (default 256). */
  maxConnectionsPerUpstream: number;
  /** Most open client connections, 1–1000000 (default 10000). Node's `server.maxConnections`. */
  maxClientConnections: number;
  /**
   * Most bytes of request bodies held in memory at once, across all requests (the bodies of AWS
   * routes other than S3), 1048576–17179869184 (default 256 MiB); beyond it, 503.
   */
  maxHeldBodyBytes: number;
}

/** `tokens`: token verification. */
export interface TokensConfig {
  /** Leeway for `exp` and `nbf`, 0–300 s (default 30). */
  clockSkewSeconds: number;
  /** Size of the verified-token cache, 0–1000000 (default 10000); 0 turns it off. */
  cacheMaxEntries: number;
  /** Longest time one JWKS fetch may take, body included, 100–60000 ms (default 5000). */
  jwksTimeoutMs: number;
  /** Largest JWKS document accepted, 1024–10485760 bytes (default 1048576). */
  jwksMaxBytes: number;
  /** Pause before a JWKS URI is fetched again after an unknown `kid` or a failure, 1–3600 s (default 10). */
  unknownKidWaitSeconds: number;
  /** How often every issuer's JWKS is fetched again, 60–86400 s (default 3600). */
  jwksRefreshSeconds: number;
}

/** `shutdown`: graceful stop on SIGTERM or SIGINT. */
export interface ShutdownConfig {
  /** Longest wait for requests in flight, 0–600000 ms (default 10000). */
  drainTimeoutMs: number;
}

/** `issuers[]`: a Cognito user pool (`cognito`) or any OIDC issuer (`issuer` + `jwksUri`), never both. */
export interface IssuerConfig {
  /** Name used by `routes[].auth.issuers` and metrics; unique. */
  id: string;
  /** A Cognito user pool; exactly one of `cognito` and `issuer`. */
  cognito?: CognitoUserPoolConfig;
  /** The issuer's identifier, exactly as in the tokens' `iss` claim (compared as strings). */
  issuer?: string;
  /**
   * Where the signing keys are. Required with `issuer`; with `cognito` it overrides the default
   * `https://cognito-idp.<region>.amazonaws.com/<userPoolId>/.well-known/jwks.json`.
   */
  jwksUri?: string;
  /** The app clients whose tokens are accepted, at least one; required unless `anyClient`. */
  clientIds?: string[];
  /** Accept tokens of every client of this issuer (default false); contradicts `clientIds`. */
  anyClient: boolean;
  /** Allow plain `http://` for `issuer` and `jwksUri` on non-loopback hosts (default false). */
  allowInsecureHttp: boolean;
  /**
   * Longest token lifetime accepted, `exp - iat` (or `exp - now` without `iat`), 60–2592000 s
   * (default 86400: Cognito's longest access and ID tokens live one day).
   */
  maxTokenLifetimeSeconds: number;
}

/** `issuers[].cognito`: an Amazon Cognito user pool. */
export interface CognitoUserPoolConfig {
  /** The pool's AWS region, like `eu-west-1`. */
  region: string;
  /** The pool's id, `<region>_<letters and digits>`; its region prefix equals `region`. */
  userPoolId: string;
}

/** `identityPools[]`: a Cognito identity pool, exchanging ID tokens for the caller's AWS credentials. */
export interface IdentityPoolConfig {
  /** Name used by `routes[].upstream.aws.identityPool` and the metrics' `pool` label; unique. */
  id: string;
  /** The identity pool's id, `<region>:<uuid>` with a lower-case uuid; its region prefix equals `region`. */
  identityPoolId: string;
  /** Where Cognito Identity (and, on the basic flow, STS) is called. */
  region: string;
  /**
   * Another address for the Cognito Identity calls (and the basic flow's STS calls): an emulator,
   * a VPC endpoint. Plain `http://` only for loopback hosts; no query or fragment.
   */
  endpoint?: string;
  /** How credentials are obtained (default `enhanced`). */
  flow: "enhanced" | "basic";
  /** Which role a caller gets (default `{ byGroup: {} }`). */
  roles: IdentityPoolRolesConfig;
  /** Whether requests without a token may be signed as the pool's guest (default false). */
  allowGuests: boolean;
  /** Longest time one call to Cognito Identity or STS may take, 100–60000 ms (default 5000). */
  timeoutMs: number;
  /** Size of each of the pool's two caches (identity ids, credentials), 1–1000000 (default 10000). */
  cacheMaxEntries: number;
}

/** `identityPools[].roles`. */
export interface IdentityPoolRolesConfig {
  /**
   * Group name → role ARN (default `{}`): the first of the caller's `cognito:groups`, in the
   * token's order, that has an entry here picks the role.
   */
  byGroup: Record<string, string>;
  /** The basic flow's role for callers no `byGroup` entry matches; required with, and only with, `flow: basic`. */
  basicFlowDefault?: string;
}

/** `routes[]`: which requests go where, and who may pass. */
export interface RouteConfig {
  /** Name used in logs and metrics labels; unique. */
  id: string;
  /** Which requests this route takes (default `{}`: every request). */
  match: RouteMatchConfig;
  /** Where requests go; written as a URL string or a mapping. */
  upstream: UpstreamConfig;
  /** Remove `match.pathPrefix` before forwarding (default false); needs `match.pathPrefix`. */
  stripPrefix: boolean;
  /**
   * Rewrite headers this route forwards (default `[]`: all dropped): `X-HTTP-Method-Override`,
   * `X-HTTP-Method`, `X-Method-Override`, `X-Original-URL`, `X-Rewrite-URL`, `X-Envoy-Original-Path`.
   */
  forwardRewriteHeaders: string[];
  /** Who may pass (default `{}`: `mode: required`). */
  auth: AuthConfig;
  /** Limits on how often callers may use the route (default: none). */
  rateLimit?: RateLimitConfig;
  /** Cross-origin calls from browsers (default: none, `OPTIONS` is an ordinary request). */
  cors?: CorsConfig;
}

/** `routes[].rateLimit`. */
export interface RateLimitConfig {
  /**
   * Each caller's budget: verified callers by issuer and `sub`, callers without a token by
   * client address. Fleet-wide when `store` is set, per pod otherwise.
   */
  perCaller: PerCallerRateLimitConfig;
}

/** `routes[].rateLimit.perCaller`: `requests` every `perSeconds`, up to `burst` at once. */
export interface PerCallerRateLimitConfig {
  /** Requests allowed per `perSeconds`, 1–1000000. */
  requests: number;
  /** The period, 1–86400 s (default 1). */
  perSeconds: number;
  /** Requests allowed at once after a quiet time, 1–1000000 (default `requests`). */
  burst?: number;
}

/**
 * `routes[].cors`: cupbearer answers this route's CORS preflights itself, without a token and
 * without asking the upstream, and adds the allow headers to its answers for listed origins.
 */
export interface CorsConfig {
  /**
   * The origins allowed, each `scheme://host[:port]` exactly as browsers send it (no path, no
   * trailing slash), or `["*"]` alone for every origin; at least one. `*` contradicts
   * `allowCredentials: true`.
   */
  allowOrigins: string[];
  /** The methods a preflight may ask for, upper case (default GET, HEAD, POST, PUT, PATCH, DELETE). */
  allowMethods: string[];
  /** The request headers a preflight may ask for (default Authorization, Content-Type); no `*`. */
  allowHeaders: string[];
  /** The response headers scripts may read beyond the safelisted ones (default `[]`). */
  exposeHeaders: string[];
  /** Whether browsers may send cookies and read the answer of a credentialed call (default false). */
  allowCredentials: boolean;
  /** How long browsers may cache a preflight's answer, 0–86400 s (default 600). */
  maxAgeSeconds: number;
}

/** `routes[].match`: all the keys given must fit; a key left out fits everything. */
export interface RouteMatchConfig {
  /** The normalized path starts with this prefix by whole segments. Not with `path`. */
  pathPrefix?: string;
  /** The normalized path equals this exactly. Not with `pathPrefix`. */
  path?: string;
  /** The request's `Host`, without port, equals one entry (`*.domain` fits subdomains only); at least one. */
  hosts?: string[];
  /** The request method is one of these (upper case; GET covers HEAD); at least one. */
  methods?: string[];
  /** Compare the path's letter case too (default false): set it when the upstream routes case-sensitively. */
  caseSensitive: boolean;
}

/** `routes[].upstream`. */
export interface UpstreamConfig {
  /** The upstream's origin and base path; no query or fragment. */
  url: string;
  /** This route's upstream timeout, 1–3600000 ms (default `limits.upstreamTimeoutMs`). */
  timeoutMs?: number;
  /** Makes the route an AWS route: requests are signed with the caller's own credentials. */
  aws?: AwsUpstreamConfig;
  /** S3 settings; only with `aws.service: s3`. */
  s3?: S3UpstreamConfig;
  /** DynamoDB allow-lists; only with `aws.service: dynamodb`. */
  dynamodb?: DynamoDbUpstreamConfig;
}

/** `routes[].upstream.aws`. */
export interface AwsUpstreamConfig {
  /** The service's signing name: `s3`, `dynamodb`, `sqs`, `execute-api`, … */
  service: string;
  /** The region requests are signed for (the upstream's, which may differ from the pool's). */
  region: string;
  /** The identity pool that gives the credentials: an `identityPools[].id`. */
  identityPool: string;
  /**
   * Largest request body for services other than S3, which are read whole and hashed before
   * signing, 0–1073741824 (default 16 MiB); at most `limits.maxHeldBodyBytes`.
   */
  maxBodyBytes: number;
}

/** `routes[].upstream.s3`. */
export interface S3UpstreamConfig {
  /**
   * The key prefix each caller is confined to (default: none). It ends in `/`; its placeholders
   * `{identityId}` and `{sub}` each fill a whole folder name.
   */
  keyPrefix?: string;
  /** Where requests name the bucket: the first path segment, or the upstream's host (default `path`). */
  addressing?: "path" | "virtual";
}

/** `routes[].upstream.dynamodb`: allow-lists checked before signing. */
export interface DynamoDbUpstreamConfig {
  /** The tables requests may name (default: every table); at least one. */
  tables?: string[];
  /** The operations (`X-Amz-Target`) allowed, case-sensitive (default: every operation); at least one. */
  operations?: string[];
}

/** `routes[].auth`: who may pass. Rules are checked in order: issuers, tokenUse, scopes, groups, claims. */
export interface AuthConfig {
  /** Default `required`. */
  mode: AuthMode;
  /** The token's issuer must be one of these `issuers[].id` (default: every issuer); at least one. */
  issuers?: string[];
  /** The token's `token_use` must equal this (default `any`). */
  tokenUse: TokenUse;
  /** The token must hold all of these scopes (default `[]`: no rule). */
  scopes: string[];
  /** The token's `cognito:groups` must contain at least one of these (default `[]`: no rule). */
  groups: string[];
  /** Each named top-level claim must equal its value, with the same type (default `{}`: no rule). */
  claims: Record<string, string | number | boolean>;
  /** Where the token is read from (default `{ header: authorization }`). */
  token: TokenSourceConfig;
  /**
   * Whether the token reaches the upstream. Left out means yes on plain routes; AWS routes never
   * forward it, so an explicit `true` is an error there.
   */
  forwardToken?: boolean;
  /** Header name → claim name (default `{}`): extra identity headers set from the verified token. */
  claimHeaders: Record<string, string>;
  /** Send a signed identity assertion (needs `assertions`; plain routes only; default: none). */
  assertion?: AssertionHeaderConfig;
  /**
   * Send ALB's `x-amzn-oidc-identity`, `x-amzn-oidc-accesstoken` and `x-amzn-oidc-data`
   * (default false; needs `assertions`; plain routes only).
   */
  albHeaders: boolean;
}

/** `routes[].auth.assertion`. */
export interface AssertionHeaderConfig {
  /** The header that carries it (default `X-Cupbearer-Assertion`). */
  header: string;
}

/** `routes[].auth.token`: exactly one key is set. */
export interface TokenSourceConfig {
  /** Read the token from this header (for `Authorization`, only `Bearer <token>` counts). */
  header?: string;
  /** Read the token from the cookie of this name. */
  cookie?: string;
  /** Read the token from this query parameter (URL-decoded). */
  query?: string;
}

/** Thrown with every problem found, each as `path: why`. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}
