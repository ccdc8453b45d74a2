/**
 * Cognito Identity exchange: a verified user-pool (or OIDC) ID token → temporary AWS credentials,
 * through an identity pool's enhanced (simplified) flow: GetId, then GetCredentialsForIdentity.
 * https://docs.aws.amazon.com/cognito/latest/developerguide/authentication-flow.html
 *
 * Two bounded caches: the identity id per (issuer, sub), which Cognito never changes, and the
 * credentials per (identity id, role), used only while they have more than a margin left.
 * Concurrent misses for one user share one exchange (single flight).
 */
import {
  type CognitoIdentityClient,
  GetCredentialsForIdentityCommand,
  GetIdCommand,
} from "@aws-sdk/client-cognito-identity";
import { LRUCache } from "lru-cache";
import { ERRORS, type ErrorCode } from "../errors.js";

/** Temporary AWS credentials of one identity, ready for a SigV4 signer. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
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
  /** Role to assume instead of the pool's default (CustomRoleArn); needs a rule-based pool. */
  readonly roleArn?: string;
}

/** Why an exchange failed, as a bounded set: labels metrics and decides the HTTP answer. */
export type CredentialsFailure = "invalid_token" | "throttled" | "unavailable";

/** Outcome label of one exchange, for metrics. */
export type ExchangeResult = "ok" | CredentialsFailure;

/** Which cache a hit or miss was in. */
export type CredentialsCacheKind = "identity" | "credentials";

/** The HTTP answer each failure becomes, in terms of the shared error table (src/errors.ts). */
const FAILURE_CODES: Record<CredentialsFailure, ErrorCode> = {
  invalid_token: "invalid_token", // 401: Cognito refused the login token
  throttled: "unavailable", // 503 + Retry-After
  unavailable: "unavailable", // 503
};

/**
 * A failed exchange. `code` indexes the shared error table (`ERRORS[code].status`); a throttled
 * one also carries `retryAfterSeconds` for the Retry-After header. The message is for the log
 * (AWS's error name and text), never for the client.
 */
export class CredentialsError extends Error {
  override name = "CredentialsError";
  readonly kind: CredentialsFailure;
  readonly code: ErrorCode;
  /** Set only when `kind` is "throttled". */
  readonly retryAfterSeconds: number | undefined;

  constructor(kind: CredentialsFailure, detail: string, retryAfterSeconds?: number) {
    super(detail);
    this.kind = kind;
    this.code = FAILURE_CODES[kind];
    this.retryAfterSeconds = kind === "throttled" ? retryAfterSeconds : undefined;
  }

  /** The HTTP status the proxy should answer with. */
  get status(): number {
    return ERRORS[this.code].status;
  }
}

/** What `CredentialsProvider.get` resolves to; it never rejects. */
export type CredentialsResult =
  | { readonly ok: true; readonly credentials: AwsCredentials }
  | { readonly ok: false; readonly error: CredentialsError };

/**
 * Optional observers, so the provider needs no metrics library of its own. Every `get` reports
 * one "credentials" hit or miss (a caller joining an exchange in flight counts as a miss); every
 * exchange reports one "identity" hit or miss and one `onExchange`.
 */
export interface CredentialsMetrics {
  /** One call per exchange with AWS (GetId and/or GetCredentialsForIdentity). */
  onExchange?(result: ExchangeResult, seconds: number): void;
  onCacheHit?(kind: CredentialsCacheKind): void;
  onCacheMiss?(kind: CredentialsCacheKind): void;
}

/** Everything a `CredentialsProvider` needs, passed in so tests can hand in real servers. */
export interface CredentialsProviderProps {
  /** e.g. `eu-west-1:0123abcd-...` */
  readonly identityPoolId: string;
  /** The identity pool's region, checked against the pool id's prefix. */
  readonly region: string;
  /** Built by the caller, with its region, endpoint, retry settings. */
  readonly client: CognitoIdentityClient;
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

// LimitExceededException is left out on purpose: in Cognito Identity it means a quota (identities
// per pool), which waiting does not fix.
const THROTTLING = new Set(["TooManyRequestsException", "ThrottlingException"]);

/** Maps whatever the SDK threw to one of the three failures. Exported for tests. */
export function classifyError(err: unknown, retryAfterSeconds: number): CredentialsError {
  const name = err instanceof Error ? err.name : "UnknownError";
  const message = err instanceof Error ? err.message : String(err);
  const detail = `${name}: ${message}`;
  if (name === "NotAuthorizedException") return new CredentialsError("invalid_token", detail);
  const retryable = (err as { $retryable?: { throttling?: boolean } } | null)?.$retryable;
  if (THROTTLING.has(name) || retryable?.throttling === true) {
    return new CredentialsError("throttled", detail, retryAfterSeconds);
  }
  // Network errors, timeouts, 5xx, and 4xx that name our own configuration (unknown pool, role
  // not allowed): none is the caller's fault, so they answer 503, not 401.
  return new CredentialsError("unavailable", detail);
}

interface Cached {
  readonly credentials: AwsCredentials;
}

/**
 * Exchanges verified tokens of one identity pool for temporary AWS credentials, with caching
 * and single flight. Cache hits do not contact AWS, so callers must pass only claims of a token
 * they have verified themselves: the cache trusts (issuer, sub).
 */
export class CredentialsProvider {
  readonly #poolId: string;
  readonly #client: CognitoIdentityClient;
  readonly #now: () => number;
  readonly #marginMs: number;
  readonly #timeoutMs: number;
  readonly #retryAfter: number;
  readonly #metrics: CredentialsMetrics;
  // (issuer, sub) → identity id: permanent in Cognito, so only the LRU bound evicts it.
  readonly #identities: LRUCache<string, string>;
  // (identity id, role) → credentials; freshness is checked against the injected clock, not
  // lru-cache's own TTL, which reads performance.now().
  readonly #credentials: LRUCache<string, Cached>;
  // (issuer, sub, role) → the exchange in progress.
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
    this.#poolId = props.identityPoolId;
    this.#client = props.client;
    this.#now = props.now;
    this.#marginMs = positive("refreshMarginSeconds", props.refreshMarginSeconds ?? 60) * 1000;
    this.#timeoutMs = positive("timeoutMs", props.timeoutMs ?? 5_000);
    this.#retryAfter = Math.ceil(
      positive("throttledRetryAfterSeconds", props.throttledRetryAfterSeconds ?? 1),
    );
    this.#metrics = props.metrics ?? {};
    this.#identities = new LRUCache({ max: Math.max(1, props.maxIdentities ?? 10_000) });
    this.#credentials = new LRUCache({ max: Math.max(1, props.maxCredentials ?? 10_000) });
  }

  /**
   * Credentials for the caller, with at least the refresh margin left: from the cache, else from
   * one exchange shared by every concurrent caller of the same (issuer, sub, role).
   * Never rejects; a failure is `{ ok: false, error }`.
   */
  get(req: CredentialsRequest): Promise<CredentialsResult> {
    const userKey = `${req.issuer}\n${req.sub}`;
    const role = req.roleArn ?? "";
    const identityId = this.#identities.get(userKey);
    if (identityId !== undefined) {
      const cached = this.#credentials.get(`${identityId}\n${role}`);
      if (cached && this.#fresh(cached.credentials)) {
        this.#metrics.onCacheHit?.("credentials");
        return Promise.resolve({ ok: true, credentials: cached.credentials });
      }
    }
    this.#metrics.onCacheMiss?.("credentials");
    const flightKey = `${userKey}\n${role}`;
    let flight = this.#flights.get(flightKey);
    if (!flight) {
      // The first caller's token is the newest one seen when the exchange starts.
      flight = this.#exchange(userKey, req).finally(() => this.#flights.delete(flightKey));
      this.#flights.set(flightKey, flight);
    }
    return flight;
  }

  /** Drops every cached identity id and credential (e.g. after a configuration reload). */
  clear(): void {
    this.#identities.clear();
    this.#credentials.clear();
  }

  #fresh(c: AwsCredentials): boolean {
    return c.expiresAt - this.#now() >= this.#marginMs;
  }

  async #exchange(userKey: string, req: CredentialsRequest): Promise<CredentialsResult> {
    const started = this.#now();
    const done = (result: ExchangeResult): void =>
      this.#metrics.onExchange?.(result, Math.max(0, this.#now() - started) / 1000);
    let identityId = this.#identities.get(userKey);
    try {
      const logins = { [loginProviderName(req.issuer)]: req.idToken };
      if (identityId === undefined) {
        this.#metrics.onCacheMiss?.("identity");
        const out = await this.#client.send(
          new GetIdCommand({ IdentityPoolId: this.#poolId, Logins: logins }),
          { abortSignal: AbortSignal.timeout(this.#timeoutMs) },
        );
        if (!out.IdentityId) throw new Error("GetId answered without an IdentityId");
        identityId = out.IdentityId;
        this.#identities.set(userKey, identityId);
      } else {
        this.#metrics.onCacheHit?.("identity");
      }
      const out = await this.#client.send(
        new GetCredentialsForIdentityCommand({
          IdentityId: identityId,
          Logins: logins,
          ...(req.roleArn !== undefined && { CustomRoleArn: req.roleArn }),
        }),
        { abortSignal: AbortSignal.timeout(this.#timeoutMs) },
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretKey || !c.SessionToken || !(c.Expiration instanceof Date)) {
        throw new Error("GetCredentialsForIdentity answered without complete credentials");
      }
      const credentials: AwsCredentials = {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretKey,
        sessionToken: c.SessionToken,
        expiresAt: c.Expiration.getTime(),
        identityId: out.IdentityId ?? identityId,
      };
      // Credentials issued with less than the margin left are still the best there are: hand
      // them out, but don't cache them, so the next request tries again.
      if (this.#fresh(credentials))
        this.#credentials.set(`${identityId}\n${req.roleArn ?? ""}`, { credentials });
      done("ok");
      return { ok: true, credentials };
    } catch (err) {
      // An identity deleted from the pool would fail forever from the cache: forget it.
      if (err instanceof Error && err.name === "ResourceNotFoundException") this.#identities.delete(userKey);
      const error = classifyError(err, this.#retryAfter);
      done(error.kind);
      return { ok: false, error };
    }
  }
}
