/**
 * Cognito Identity exchange: a verified user-pool (or OIDC) ID token → temporary AWS credentials,
 * through one of an identity pool's two flows:
 * https://docs.aws.amazon.com/cognito/latest/developerguide/authentication-flow.html
 * - enhanced (simplified, the default): GetId, then GetCredentialsForIdentity;
 * - basic (classic): GetId, GetOpenIdToken, then STS AssumeRoleWithWebIdentity with a role the
 *   caller names and, optionally, an inline session policy.
 * Guests (unauthenticated identities) always take the enhanced calls without Logins.
 * Identity pool calls and AssumeRoleWithWebIdentity are unsigned by design; the SDK knows that.
 *
 * Two bounded caches: the identity id per (issuer, sub), which Cognito never changes, and the
 * credentials per (identity id, role, ...), used only while they have more than a margin left.
 * A hit is answered synchronously (no promise, no microtask): it happens on every signed request.
 * Concurrent misses for one user share one exchange (single flight).
 */
import {
  type CognitoIdentityClient,
  GetCredentialsForIdentityCommand,
  GetIdCommand,
  GetOpenIdTokenCommand,
} from "@aws-sdk/client-cognito-identity";
import { AssumeRoleWithWebIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import { LRUCache } from "lru-cache";
import type { Span, Tracer } from "../tracing.js";
import type { AwsCredentials } from "./signer.js";

/** Temporary AWS credentials issued to one Cognito identity: what a SigV4 signer takes, and more. */
export interface TemporaryCredentials extends AwsCredentials {
  readonly sessionToken: string;
  /** When AWS stops accepting them, epoch milliseconds. */
  readonly expiresAt: number;
  /** The Cognito identity id they were issued to. */
  readonly identityId: string;
}

/** Who asks for credentials. Pass only claims of a token the verifier has already accepted. */
export interface CredentialsRequest {
  /** The verified token's `iss`, exactly. */
  readonly issuer: string;
  /** The verified token's `sub`: with `issuer`, the cache key of the identity. */
  readonly sub: string;
  /** The raw ID token, sent as the login on a cache miss; never cached, never logged. */
  readonly idToken: string;
  /**
   * The app client the token was issued to (`aud`). An identity pool accepts only the clients it
   * lists, so a hit must not hand one client's credentials to a token of another.
   */
  readonly client?: string;
  /**
   * Enhanced flow: the role to assume instead of the pool's default (CustomRoleArn); needs a
   * rule-based pool. Basic flow: the role to assume, required (without it `get` fails as
   * `unavailable` and nothing is sent).
   */
  readonly roleArn?: string;
  /**
   * Basic flow only: an inline session policy for AssumeRoleWithWebIdentity, so AWS itself
   * enforces e.g. a route's key prefix. The enhanced flow ignores it (GetCredentialsForIdentity
   * takes no policy), and shares credentials between requests that differ only in it.
   */
  readonly sessionPolicy?: SessionPolicy;
  /** The request's span, parent of the spans of the AWS calls made for it (traces exported). */
  readonly parent?: Span | undefined;
}

/** An inline session policy, built once the caller's identity id is known. */
export interface SessionPolicy {
  /**
   * A stable name of the policy template (e.g. the route's keyPrefix template): part of the
   * credentials cache key and the single-flight key, so requests under different policies never
   * share credentials. Equal keys must build equal policies for one identity.
   */
  readonly key: string;
  /** The IAM policy JSON sent as STS `Policy`. */
  build(identityId: string): string;
}

/** Which identity pool flow a provider uses. */
export type CredentialsFlow = "enhanced" | "basic";

/** Why an exchange failed, as a bounded set: labels metrics and decides the HTTP answer. */
export type CredentialsFailure = "invalid_token" | "throttled" | "unavailable";

/** Outcome label of one exchange, for metrics. */
export type ExchangeResult = "ok" | CredentialsFailure;

/** Which cache a hit or miss was in. */
export type CredentialsCacheKind = "identity" | "credentials";

/**
 * A failed exchange; a throttled one also carries `retryAfterSeconds` for the Retry-After header.
 * The message is for the log (AWS's error name and text), never for the client; the proxy maps
 * `kind` to its answer (aws/caller-credentials).
 */
export class CredentialsError extends Error {
  override name = "CredentialsError";
  readonly kind: CredentialsFailure;
  /** Set only when `kind` is "throttled". */
  readonly retryAfterSeconds: number | undefined;

  constructor(kind: CredentialsFailure, detail: string, retryAfterSeconds?: number) {
    super(detail);
    this.kind = kind;
    this.retryAfterSeconds = kind === "throttled" ? retryAfterSeconds : undefined;
  }
}

/** The outcome of a lookup; lookups never throw or reject. */
export type CredentialsResult =
  | { readonly ok: true; readonly credentials: TemporaryCredentials }
  | { readonly ok: false; readonly error: CredentialsError };

/**
 * What `CredentialsProvider.get` and `getGuest` return: the result itself when it is known at
 * once (a cache hit, or a request refused before anything is sent), else the promise of the
 * exchange started or joined. `await` takes both; a caller on the hot path tests
 * `instanceof Promise` and awaits only then.
 */
export type CredentialsLookup = CredentialsResult | Promise<CredentialsResult>;

/**
 * Optional observers, so the provider needs no metrics library of its own. Every `get` reports
 * one "credentials" hit or miss (a caller joining an exchange in flight counts as a miss); every
 * exchange reports one "identity" hit or miss and one `onExchange`.
 */
export interface CredentialsMetrics {
  /**
   * One call per exchange with AWS: GetId (unless cached) and GetCredentialsForIdentity, or, in
   * the basic flow, GetId, GetOpenIdToken and AssumeRoleWithWebIdentity. Guests' too.
   */
  onExchange?(result: ExchangeResult, seconds: number): void;
  onCacheHit?(kind: CredentialsCacheKind): void;
  onCacheMiss?(kind: CredentialsCacheKind): void;
}

/**
 * A cache shared by a fleet of cupbearers (store/redis-store), asked after the local caches miss
 * and before Cognito. Every method is bounded in time and never rejects: a store that is down
 * reads as a miss, and its single flight lets the caller go on alone.
 */
export interface SharedCredentialsCache {
  /** The identity id of a user (an identity cache key), if the fleet knows it. */
  identity(userKey: string): Promise<string | undefined>;
  saveIdentity(userKey: string, identityId: string): Promise<void>;
  /** Drops an identity id Cognito no longer knows. */
  forgetIdentity(userKey: string): Promise<void>;
  /** Credentials under a credentials cache key, issued to `identityId`, if the fleet has them. */
  credentials(key: string, identityId: string): Promise<TemporaryCredentials | undefined>;
  /** Keeps credentials for `ttlMs` (until they are due for a refresh). */
  saveCredentials(key: string, credentials: TemporaryCredentials, ttlMs: number): Promise<void>;
  /**
   * Runs `produce` as the fleet's one producer for `key`; while another pod produces, polls
   * `check` for its result, for a bounded time, then produces anyway.
   */
  singleFlight<T>(key: string, check: () => Promise<T | undefined>, produce: () => Promise<T>): Promise<T>;
}

/** Everything a `CredentialsProvider` needs, passed in so tests can hand in real servers. */
export interface CredentialsProviderProps {
  /** e.g. `eu-west-1:0123abcd-...` */
  readonly identityPoolId: string;
  /** The identity pool's region, checked against the pool id's prefix. */
  readonly region: string;
  /** Built by the caller, with its region, endpoint, retry settings. */
  readonly client: CognitoIdentityClient;
  /** Default "enhanced". */
  readonly flow?: CredentialsFlow;
  /** The STS client of the basic flow (required there; unused by the enhanced flow). */
  readonly sts?: STSClient;
  /** Epoch milliseconds; `Date.now` in production. */
  readonly now: () => number;
  /** Never hand out credentials with less than this left (default 60 s). */
  readonly refreshMarginSeconds?: number;
  /** Bound of the identity id cache, entries (default 10,000). */
  readonly maxIdentities?: number;
  /** Bound of the credentials cache, entries (default 10,000). */
  readonly maxCredentials?: number;
  /** Per AWS call, including the SDK's retries (default 5,000 ms). */
  readonly timeoutMs?: number;
  /** Retry-After for a throttled answer (default 1 s): AWS gives no hint through the SDK. */
  readonly throttledRetryAfterSeconds?: number;
  readonly metrics?: CredentialsMetrics;
  /** A fleet-wide cache behind the local ones (default none: every pod asks Cognito itself). */
  readonly shared?: SharedCredentialsCache;
  /** Records a client span per AWS call when traces are exported. */
  readonly tracer?: Tracer | undefined;
}

/**
 * The `Logins` key of an identity provider: `cognito-idp.<region>.amazonaws.com/<userPoolId>` for
 * a Cognito user pool, else the issuer URL without its scheme (host and path), as an identity
 * pool's OpenID Connect provider is named.
 * https://docs.aws.amazon.com/cognitoidentity/latest/APIReference/API_GetId.html
 *
 * @throws TypeError if `issuer` is not an absolute URL.
 */
export function loginProviderName(issuer: string): string {
  const url = new URL(issuer);
  // A Cognito issuer is https://cognito-idp.<region>.amazonaws.com/<userPoolId>, so host + path
  // gives exactly its provider name too; only a trailing slash is dropped.
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.host}${path}`;
}

/** `cognito-idp.<region>.amazonaws.com/<userPoolId>`, the `Logins` key of a Cognito user pool. */
export function cognitoProviderName(region: string, userPoolId: string): string {
  return `cognito-idp.${region}.amazonaws.com/${userPoolId}`;
}

// "Throttling" is STS's (AWS Query protocol) code. LimitExceededException is left out on purpose:
// in Cognito Identity it means a quota (identities per pool), which waiting does not fix.
const THROTTLING = new Set(["TooManyRequestsException", "ThrottlingException", "Throttling"]);

/**
 * The letters AWS allows in a RoleSessionName (`[\w+=,.@-]*`, 2 to 64 of them), made from the
 * caller's `sub` for CloudTrail: others become "-", the rest is cut to 64; an empty result is
 * "cupbearer", a single letter gets that as a prefix (STS refuses names shorter than 2).
 */
export function roleSessionName(sub: string): string {
  // `u`: an astral character is one "-", not two; \w stays ASCII (no `i` flag).
  const name = sub.replace(/[^\w+=,.@-]/gu, "-").slice(0, 64);
  if (name.length >= 2) return name;
  return name === "" ? "cupbearer" : `cupbearer-${name}`;
}

/**
 * Maps whatever the SDK threw to one of the three failures. `callerToken` is false for guests:
 * with no token of the caller's, Cognito's NotAuthorizedException (e.g. a pool without guest
 * access) is our configuration, not the caller's fault.
 */
function classifyError(err: unknown, retryAfterSeconds: number, callerToken = true): CredentialsError {
  const name = err instanceof Error ? err.name : "UnknownError";
  const message = err instanceof Error ? err.message : String(err);
  const detail = `${name}: ${message}`;
  if (name === "NotAuthorizedException" && callerToken) return new CredentialsError("invalid_token", detail);
  const retryable = (err as { $retryable?: { throttling?: boolean } } | null)?.$retryable;
  if (THROTTLING.has(name) || retryable?.throttling === true) {
    return new CredentialsError("throttled", detail, retryAfterSeconds);
  }
  // Network errors, timeouts, 5xx, and 4xx that name our own configuration (unknown pool, role
  // not allowed): none is the caller's fault, so they answer 503, not 401. So do STS's
  // InvalidIdentityToken, ExpiredTokenException, IDPRejectedClaim (the SDK's names end in
  // "Exception") and AccessDenied: the token they judge is the OpenID token Cognito has just
  // issued to us, so a refusal means a role trust policy or clock problem on our side, not a
  // bad caller token (that one already passed GetOpenIdToken).
  return new CredentialsError("unavailable", detail);
}

/**
 * One part of a cache key: its length, ":", then the part itself; "-" for an absent part. The
 * length says where each part ends whatever characters it holds (issuers, subs and role ARNs may
 * hold anything), and no encoded part is a prefix of another, so keys joined from parts are equal
 * only when every part is. Cheaper than JSON.stringify, which scans each part for escapes and
 * allocates an array, on every signed request.
 */
function keyPart(part: string | undefined): string {
  return part === undefined ? "-" : `${part.length}:${part}`;
}

// The guest's credentials and flight key: every user key starts with a digit (a length), so none
// can equal it.
const GUEST = "guest";

/** A successful result, kept whole in the cache so that a hit allocates nothing. */
type Cached = Extract<CredentialsResult, { ok: true }>;

/** What differs between a user's and a guest's exchange; the rest is shared. */
interface ExchangeSpec {
  /** The span the AWS calls' spans are children of. */
  readonly parent?: Span | undefined;
  /** The identity cache key (the shared cache's too). */
  readonly identityKey: string;
  /** The single-flight key: the same user, role and policy. */
  readonly flightKey: string;
  /** The caller's Logins, or undefined for a guest. */
  logins(): Record<string, string> | undefined;
  identity(): string | undefined;
  rememberIdentity(identityId: string): void;
  forgetIdentity(): void;
  /** Where fresh credentials of `identityId` are cached. */
  credentialsKey(identityId: string): string;
  credentials(identityId: string, logins: Record<string, string> | undefined): Promise<TemporaryCredentials>;
}

/**
 * Exchanges verified tokens of one identity pool for temporary AWS credentials, with caching
 * and single flight. Cache hits do not contact AWS, so callers must pass only claims of a token
 * they have verified themselves: the cache trusts (issuer, sub).
 */
export class CredentialsProvider {
  readonly flow: CredentialsFlow;
  readonly #poolId: string;
  readonly #client: CognitoIdentityClient;
  readonly #sts: STSClient | undefined;
  readonly #now: () => number;
  readonly #marginMs: number;
  readonly #timeoutMs: number;
  readonly #retryAfter: number;
  readonly #metrics: CredentialsMetrics;
  readonly #shared: SharedCredentialsCache | undefined;
  readonly #tracer: Tracer | undefined;
  // (issuer, sub) → identity id: permanent in Cognito, so only the LRU bound evicts it.
  readonly #identities: LRUCache<string, string>;
  // The pool's one guest identity of this provider; outside the LRU so it is never re-created.
  #guestIdentity: string | undefined;
  // (identity id, role, ...) → credentials; freshness is checked against the injected clock, not
  // lru-cache's own TTL, which reads performance.now().
  readonly #credentials: LRUCache<string, Cached>;
  // (issuer, sub, role, ...) → the exchange in progress.
  readonly #flights = new Map<string, Promise<CredentialsResult>>();

  constructor(props: CredentialsProviderProps) {
    const positive = (name: string, value: number): number => {
      if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a number >= 0`);
      return value;
    };
    // Identity pool ids are "<region>:<uuid>"; a mismatch means the config names the wrong region.
    if (!props.identityPoolId.startsWith(`${props.region}:`)) {
      throw new RangeError(`identityPoolId must start with "${props.region}:" (its region)`);
    }
    this.flow = props.flow ?? "enhanced";
    if (this.flow !== "enhanced" && this.flow !== "basic") {
      throw new RangeError('flow must be "enhanced" or "basic"');
    }
    if (this.flow === "basic" && props.sts === undefined) {
      throw new RangeError("the basic flow needs an STS client (sts)");
    }
    this.#poolId = props.identityPoolId;
    this.#client = props.client;
    this.#sts = props.sts;
    this.#now = props.now;
    this.#marginMs = positive("refreshMarginSeconds", props.refreshMarginSeconds ?? 60) * 1000;
    this.#timeoutMs = positive("timeoutMs", props.timeoutMs ?? 5_000);
    this.#retryAfter = Math.ceil(
      positive("throttledRetryAfterSeconds", props.throttledRetryAfterSeconds ?? 1),
    );
    this.#metrics = props.metrics ?? {};
    this.#shared = props.shared;
    this.#tracer = props.tracer;
    this.#identities = new LRUCache({ max: Math.max(1, props.maxIdentities ?? 10_000) });
    this.#credentials = new LRUCache({ max: Math.max(1, props.maxCredentials ?? 10_000) });
  }

  /**
   * Credentials for the caller, with at least the refresh margin left: from the cache (returned
   * at once), else from one exchange shared by every concurrent caller of the same (issuer, sub,
   * role) and, in the basic flow, session policy key (a promise). Reports one "credentials" hit
   * or miss per call. Never throws or rejects; a failure is `{ ok: false, error }`.
   */
  get(req: CredentialsRequest): CredentialsLookup {
    const basic = this.flow === "basic";
    if (basic && req.roleArn === undefined) {
      // A configuration gap (no role for this caller), caught before anything is sent.
      this.#metrics.onCacheMiss?.("credentials");
      const detail = "the basic flow needs a role (roleArn) and none applies to this caller";
      return { ok: false, error: new CredentialsError("unavailable", detail) };
    }
    const userKey = keyPart(req.issuer) + keyPart(req.sub);
    // Basic-flow credentials also carry the caller's session name and policy, which derive from
    // the sub and the policy template, not only from the identity: key them per user and policy.
    const roleAndClient = keyPart(req.roleArn) + keyPart(req.client);
    const scope = basic ? roleAndClient + keyPart(req.sessionPolicy?.key) + userKey : roleAndClient;
    const identityId = this.#identities.get(userKey);
    const hit = this.#cached(identityId === undefined ? undefined : keyPart(identityId) + scope);
    if (hit) return hit;
    return this.#flight(userKey + scope, () =>
      this.#exchange(
        {
          identityKey: userKey,
          flightKey: userKey + scope,
          parent: req.parent,
          logins: () => ({ [loginProviderName(req.issuer)]: req.idToken }),
          identity: () => this.#identities.get(userKey),
          rememberIdentity: (id) => this.#identities.set(userKey, id),
          forgetIdentity: () => this.#identities.delete(userKey),
          credentialsKey: (id) => keyPart(id) + scope,
          credentials: (id, logins) =>
            basic
              ? this.#assumeRole(id, logins, req)
              : this.#credentialsFor(id, logins, req.roleArn, req.parent),
        },
        true,
      ),
    );
  }

  /**
   * Credentials of the pool's unauthenticated (guest) identity: one identity id per provider
   * (GetId without Logins, then kept), its credentials cached and single flight like a user's.
   * Both flows take the enhanced calls here: the basic flow would need a guest role to name,
   * and the pool's own unauthenticated role is what guests are meant to get.
   * A hit is returned at once, like {@link CredentialsProvider.get}'s. Never throws or rejects;
   * a failure is `{ ok: false, error }`.
   */
  getGuest(): CredentialsLookup {
    const hit = this.#cached(GUEST);
    if (hit) return hit;
    return this.#flight(GUEST, () =>
      this.#exchange(
        {
          identityKey: GUEST,
          flightKey: GUEST,
          logins: () => undefined,
          identity: () => this.#guestIdentity,
          rememberIdentity: (id) => {
            this.#guestIdentity = id;
          },
          forgetIdentity: () => {
            this.#guestIdentity = undefined;
          },
          credentialsKey: () => GUEST,
          credentials: (id) => this.#credentialsFor(id, undefined, undefined),
        },
        false,
      ),
    );
  }

  /** Drops every cached identity id and credential (e.g. after a configuration reload). */
  clear(): void {
    this.#identities.clear();
    this.#guestIdentity = undefined;
    this.#credentials.clear();
  }

  #fresh(c: TemporaryCredentials): boolean {
    return c.expiresAt - this.#now() >= this.#marginMs;
  }

  /** A cache hit (reported), or undefined after reporting the miss. */
  #cached(key: string | undefined): Cached | undefined {
    const cached = key === undefined ? undefined : this.#credentials.get(key);
    if (cached && this.#fresh(cached.credentials)) {
      this.#metrics.onCacheHit?.("credentials");
      return cached;
    }
    this.#metrics.onCacheMiss?.("credentials");
    return undefined;
  }

  /** Joins the exchange in flight under `key`, or starts one; the first caller's request wins. */
  #flight(key: string, start: () => Promise<CredentialsResult>): Promise<CredentialsResult> {
    let flight = this.#flights.get(key);
    if (!flight) {
      flight = start().finally(() => this.#flights.delete(key));
      this.#flights.set(key, flight);
    }
    return flight;
  }

  #options(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(this.#timeoutMs) };
  }

  /** The fleet's cache, then the fleet's single flight around a direct exchange; direct without one. */
  async #exchange(spec: ExchangeSpec, callerToken: boolean): Promise<CredentialsResult> {
    const shared = this.#shared;
    if (shared === undefined) return this.#exchangeDirect(spec, callerToken);
    const check = () => this.#fromShared(shared, spec);
    return (
      (await check()) ??
      shared.singleFlight(spec.flightKey, check, () => this.#exchangeDirect(spec, callerToken, shared))
    );
  }

  /** Fresh credentials another pod has put in the shared cache, now in the local one too. */
  async #fromShared(shared: SharedCredentialsCache, spec: ExchangeSpec): Promise<Cached | undefined> {
    let identityId = spec.identity();
    if (identityId === undefined) {
      identityId = await shared.identity(spec.identityKey);
      if (identityId === undefined) return undefined;
      spec.rememberIdentity(identityId);
    }
    const key = spec.credentialsKey(identityId);
    const credentials = await shared.credentials(key, identityId);
    if (credentials === undefined || !this.#fresh(credentials)) return undefined;
    const result: Cached = { ok: true, credentials };
    this.#credentials.set(key, result);
    return result;
  }

  async #exchangeDirect(
    spec: ExchangeSpec,
    callerToken: boolean,
    shared?: SharedCredentialsCache,
  ): Promise<CredentialsResult> {
    const started = this.#now();
    const done = (result: ExchangeResult): void =>
      this.#metrics.onExchange?.(result, Math.max(0, this.#now() - started) / 1000);
    try {
      const logins = spec.logins();
      let identityId = spec.identity();
      if (identityId === undefined) {
        this.#metrics.onCacheMiss?.("identity");
        const out = await this.#traced("CognitoIdentity", "GetId", spec.parent, () =>
          this.#client.send(
            new GetIdCommand({ IdentityPoolId: this.#poolId, ...(logins && { Logins: logins }) }),
            this.#options(),
          ),
        );
        if (!out.IdentityId) throw new Error("GetId answered without an IdentityId");
        identityId = out.IdentityId;
        spec.rememberIdentity(identityId);
        // Bounded and never rejects; written while the credentials are being fetched.
        void shared?.saveIdentity(spec.identityKey, identityId);
      } else {
        this.#metrics.onCacheHit?.("identity");
      }
      const credentials = await spec.credentials(identityId, logins);
      const result: Cached = { ok: true, credentials };
      // Credentials issued with less than the margin left are still the best there are: hand
      // them out, but don't cache them, so the next request tries again.
      const fresh = this.#fresh(credentials);
      const key = spec.credentialsKey(identityId);
      if (fresh) this.#credentials.set(key, result);
      done("ok");
      // Kept in the fleet's cache until they are due for a refresh, so the fleet refreshes once;
      // written before the fleet's lock is released, so the pods waiting on it find them.
      if (fresh)
        await shared?.saveCredentials(key, credentials, credentials.expiresAt - this.#now() - this.#marginMs);
      return result;
    } catch (err) {
      // An identity deleted from the pool would fail forever from the cache: forget it.
      if (err instanceof Error && err.name === "ResourceNotFoundException") {
        spec.forgetIdentity();
        await shared?.forgetIdentity(spec.identityKey);
      }
      const error = classifyError(err, this.#retryAfter, callerToken);
      done(error.kind);
      return { ok: false, error };
    }
  }

  /**
   * One AWS call, in a client span when traces are exported (named after the OpenTelemetry AWS
   * SDK conventions: service/operation; the error is the exception's name, never its message).
   */
  #traced<T>(
    service: string,
    operation: string,
    parent: Span | undefined,
    call: () => Promise<T>,
  ): Promise<T> {
    const tracer = this.#tracer;
    if (tracer === undefined) return call();
    const span = tracer.startSpan(
      `${service}/${operation}`,
      "client",
      { "rpc.system": "aws-api", "rpc.service": service, "rpc.method": operation },
      parent,
    );
    return call().then(
      (out) => {
        span.end();
        return out;
      },
      (err: unknown) => {
        span.end(undefined, err instanceof Error ? err.name : "Error");
        throw err;
      },
    );
  }

  /** Enhanced flow (and guests): GetCredentialsForIdentity. */
  async #credentialsFor(
    identityId: string,
    logins: Record<string, string> | undefined,
    roleArn: string | undefined,
    parent?: Span,
  ): Promise<TemporaryCredentials> {
    const out = await this.#traced("CognitoIdentity", "GetCredentialsForIdentity", parent, () =>
      this.#client.send(
        new GetCredentialsForIdentityCommand({
          IdentityId: identityId,
          ...(logins && { Logins: logins }),
          ...(roleArn !== undefined && { CustomRoleArn: roleArn }),
        }),
        this.#options(),
      ),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretKey || !c.SessionToken || !(c.Expiration instanceof Date)) {
      throw new Error("GetCredentialsForIdentity answered without complete credentials");
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretKey,
      sessionToken: c.SessionToken,
      expiresAt: c.Expiration.getTime(),
      identityId: out.IdentityId ?? identityId,
    };
  }

  /** Basic flow: GetOpenIdToken, then STS AssumeRoleWithWebIdentity with that token. */
  async #assumeRole(
    identityId: string,
    logins: Record<string, string> | undefined,
    req: CredentialsRequest,
  ): Promise<TemporaryCredentials> {
    // Both checked by the constructor and get(); repeated for the type checker.
    if (this.#sts === undefined || req.roleArn === undefined) throw new Error("basic flow misconfigured");
    const open = await this.#traced("CognitoIdentity", "GetOpenIdToken", req.parent, () =>
      this.#client.send(
        new GetOpenIdTokenCommand({ IdentityId: identityId, ...(logins && { Logins: logins }) }),
        this.#options(),
      ),
    );
    // The OpenID token is used once, here, and neither cached nor logged.
    if (!open.Token) throw new Error("GetOpenIdToken answered without a Token");
    const policy = req.sessionPolicy?.build(identityId);
    const sts = this.#sts;
    const out = await this.#traced("STS", "AssumeRoleWithWebIdentity", req.parent, () =>
      sts.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: req.roleArn,
          RoleSessionName: roleSessionName(req.sub),
          WebIdentityToken: open.Token,
          ...(policy !== undefined && { Policy: policy }),
        }),
        this.#options(),
      ),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !(c.Expiration instanceof Date)) {
      throw new Error("AssumeRoleWithWebIdentity answered without complete credentials");
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiresAt: c.Expiration.getTime(),
      identityId: open.IdentityId ?? identityId,
    };
  }
}
