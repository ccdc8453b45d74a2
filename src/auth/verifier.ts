import { validateCognitoJwtFields } from "aws-jwt-verify/cognito-verifier";
import {
  CognitoJwtInvalidClientIdError,
  FetchError,
  JwksNotAvailableInCacheError,
  JwksValidationError,
  JwkValidationError,
  JwtExpiredError,
  JwtInvalidAudienceError,
  JwtInvalidIssuerError,
  JwtInvalidSignatureAlgorithmError,
  JwtInvalidSignatureError,
  JwtNotBeforeError,
  JwtWithoutValidKidError,
  KidNotFoundInJwksError,
  ParameterValidationError,
  WaitPeriodNotYetEndedJwkError,
} from "aws-jwt-verify/error";
import type { Fetcher } from "aws-jwt-verify/https";
import { SimpleJwksCache } from "aws-jwt-verify/jwk";
import type { JwtPayload } from "aws-jwt-verify/jwt-model";
import { JwtVerifier } from "aws-jwt-verify/jwt-verifier";
import { LRUCache } from "lru-cache";
import { issuerUrl } from "../config/ids-and-urls.js";
import type { IssuerConfig } from "../config/types.js";
import type { Identity } from "../core/identity.js";
import {
  cacheableUntil,
  checkTokenTimes,
  DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
} from "../core/token-lifetime.js";
import { type FailureReason, Refusal } from "../errors.js";
import { RefetchLimiter } from "./jwks-fetcher.js";

/** An issuer as the verifier needs it: its exact `iss`, where its keys are, which clients it accepts. */
export interface ResolvedIssuer {
  id: string;
  issuer: string;
  jwksUri: string;
  /** undefined accepts every client of the issuer. */
  clientIds: readonly string[] | undefined;
  /** Cognito user pools get Cognito's own client and token_use checks. */
  cognito: boolean;
  /** Longest `exp - iat` accepted (default one day). */
  maxTokenLifetimeSeconds?: number;
}

/** Config → the issuer URL and JWKS URI cupbearer checks against. */
export function resolveIssuer(config: IssuerConfig): ResolvedIssuer {
  const issuer = issuerUrl(config) as string;
  return {
    id: config.id,
    issuer,
    jwksUri: config.jwksUri ?? `${issuer.replace(/\/$/, "")}/.well-known/jwks.json`,
    clientIds: config.clientIds,
    cognito: config.cognito !== undefined,
    maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
  };
}

export interface TokenVerifierOptions {
  issuers: readonly ResolvedIssuer[];
  fetcher: Fetcher;
  clockSkewSeconds: number;
  cacheMaxEntries: number;
  unknownKidWaitSeconds: number;
  onCacheHit?: () => void;
  onCacheMiss?: () => void;
  /**
   * The clock (milliseconds since the epoch) of the token cache and the JWKS refetch limiter;
   * default Date.now. aws-jwt-verify checks `exp` and `nbf` of the tokens it verifies against
   * Date.now itself, so a cached token's lifetime is decided here, by this clock.
   */
  now?: () => number;
}

function claimList(v: unknown): string[] {
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/**
 * The client checks: Cognito's own rules for user pools (`aud` for ID tokens, `client_id` for
 * access tokens); for other OIDC issuers the same by `token_use` where present, else `aud` or
 * `client_id`. Every token must also carry `exp` and `sub`: cupbearer never accepts a
 * token that cannot expire, nor one it cannot name.
 */
function customCheck(issuer: ResolvedIssuer, clockSkewSeconds: number, now: () => number) {
  const times = { clockSkewSeconds, maxTokenLifetimeSeconds: lifetimeOf(issuer) };
  return ({ payload }: { payload: JwtPayload }): void => {
    if (typeof payload.exp !== "number") throw new Refusal("malformed", "token has no exp");
    checkTokenTimes({ exp: payload.exp, iat: payload.iat }, now() / 1000, times);
    if (typeof payload.sub !== "string" || payload.sub === "") {
      throw new Refusal("malformed", "token has no sub");
    }
    if (issuer.cognito) {
      validateCognitoJwtFields(payload, {
        tokenUse: null,
        clientId: issuer.clientIds ? [...issuer.clientIds] : null,
      });
      return;
    }
    if (issuer.clientIds === undefined) return;
    // No `azp`: it names the party that asked for the token, not the audience it is meant for.
    const use = payload.token_use;
    const held =
      use === "id"
        ? claimList(payload.aud)
        : use === "access"
          ? claimList(payload.client_id)
          : [...claimList(payload.aud), ...claimList(payload.client_id)];
    if (!held.some((c) => issuer.clientIds?.includes(c))) {
      throw new Refusal("client", "client not accepted");
    }
  };
}

function lifetimeOf(issuer: ResolvedIssuer): number {
  return issuer.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
}

/** aws-jwt-verify's error classes → our bounded reasons. */
export function failureOf(err: unknown): Refusal {
  if (err instanceof Refusal) return err;
  const reason: FailureReason =
    err instanceof JwtExpiredError
      ? "expired"
      : err instanceof JwtNotBeforeError
        ? "not_yet_valid"
        : err instanceof JwtInvalidSignatureError || err instanceof JwtInvalidSignatureAlgorithmError
          ? "signature"
          : err instanceof JwkValidationError
            ? "signature"
            : err instanceof JwtInvalidIssuerError || err instanceof ParameterValidationError
              ? "issuer"
              : err instanceof JwtInvalidAudienceError || err instanceof CognitoJwtInvalidClientIdError
                ? "client"
                : err instanceof KidNotFoundInJwksError ||
                    err instanceof WaitPeriodNotYetEndedJwkError ||
                    err instanceof JwtWithoutValidKidError
                  ? "unknown_kid"
                  : err instanceof FetchError || err instanceof JwksValidationError
                    ? "jwks_unavailable"
                    : "malformed";
  return new Refusal(reason, err instanceof Error ? err.message : undefined);
}

/** The two calls cupbearer makes of aws-jwt-verify's multi-issuer verifier (its generics do not help here). */
interface JwtCheck {
  verifySync(jwt: string): JwtPayload;
  verify(jwt: string): Promise<JwtPayload>;
}

interface CacheEntry {
  identity: Identity;
  /** When the verifier stops accepting the token (`exp` plus the allowed clock skew), by `now()`. */
  expiresAt: number;
}

/**
 * Verifies tokens of the configured issuers with aws-jwt-verify, remembering verified ones in a
 * bounded LRU whose entries live exactly as long as the token is accepted (`exp` plus the allowed
 * clock skew, by the injected clock). A cache hit skips only the signature check; the route's
 * rules are always evaluated by the caller.
 */
export class TokenVerifier {
  private readonly verifier: JwtCheck | undefined;
  private readonly jwksCache: SimpleJwksCache;
  private readonly byIssuer: Map<string, ResolvedIssuer>;
  private readonly cache: LRUCache<string, CacheEntry> | undefined;
  private readonly loaded = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly options: TokenVerifierOptions) {
    this.now = options.now ?? Date.now;
    this.byIssuer = new Map(options.issuers.map((i) => [i.issuer, i]));
    const limiter = new RefetchLimiter(options.unknownKidWaitSeconds * 1000, this.now);
    // A failed fetch rate-limits the next one too, so a down issuer is not hammered by junk kids.
    const fetcher: Fetcher = {
      fetch: (uri) =>
        options.fetcher.fetch(uri).catch((err: unknown) => {
          limiter.registerFailedAttempt(uri);
          throw err;
        }),
    };
    this.jwksCache = new SimpleJwksCache({ fetcher, penaltyBox: limiter });
    const props = options.issuers.map((i) => ({
      issuer: i.issuer,
      jwksUri: i.jwksUri,
      audience: null,
      graceSeconds: options.clockSkewSeconds,
      customJwtCheck: customCheck(i, options.clockSkewSeconds, this.now),
    }));
    // An empty config (public routes only) still gets a verifier that knows no issuer.
    this.verifier =
      props.length > 0
        ? (JwtVerifier.create(props, { jwksCache: this.jwksCache }) as unknown as JwtCheck)
        : undefined;
    this.cache =
      options.cacheMaxEntries > 0
        ? new LRUCache<string, CacheEntry>({ max: options.cacheMaxEntries })
        : undefined;
  }

  /** True once every issuer's JWKS has been loaded at least once. */
  get ready(): boolean {
    return this.loaded.size === this.options.issuers.length;
  }

  /**
   * Loads one issuer's JWKS into the cache (for readiness at start-up).
   * Throws when the fetch fails; the caller decides when to try again.
   */
  async hydrateIssuer(issuer: ResolvedIssuer): Promise<void> {
    await this.jwksCache.getJwks(issuer.jwksUri);
    this.loaded.add(issuer.id);
  }

  /**
   * Verifies a token: its identity, or a rejected promise with a Refusal saying why not (never a
   * throw). Synchronous whenever the signing key is cached, a cached token above all: a promise
   * per request is what the path of every request can do without.
   */
  verify(token: string): Identity | Promise<Identity> {
    const hit = this.cache?.get(token);
    if (hit !== undefined && this.now() < hit.expiresAt) {
      this.options.onCacheHit?.();
      return hit.identity;
    }
    this.options.onCacheMiss?.();
    if (hit !== undefined) {
      // Verified once, so only time can have changed its verdict: by this verifier's clock, the
      // token's lifetime is over (lru-cache's own ttl would read performance.now() instead).
      this.cache?.delete(token);
      return Promise.reject(new Refusal("expired", "token expired (cached)"));
    }
    const { verifier } = this;
    if (verifier === undefined) return Promise.reject(new Refusal("issuer"));
    let payload: JwtPayload;
    try {
      // The synchronous path needs the key already cached; an unknown kid falls back to the
      // asynchronous one, which refetches the JWKS within the RefetchLimiter's bounds.
      payload = verifier.verifySync(token);
    } catch (err) {
      if (!(err instanceof KidNotFoundInJwksError || err instanceof JwksNotAvailableInCacheError))
        return Promise.reject(failureOf(err));
      return this.verifyFetchingKeys(verifier, token).then((fetched) => this.remember(token, fetched));
    }
    return this.remember(token, payload);
  }

  private async verifyFetchingKeys(verifier: JwtCheck, token: string): Promise<JwtPayload> {
    try {
      return await verifier.verify(token);
    } catch (err) {
      const failure = failureOf(err);
      // Refused refetch of an issuer whose keys were never loaded: that is an outage, not a bad token.
      if (failure.reason === "unknown_kid" && err instanceof WaitPeriodNotYetEndedJwkError && !this.ready) {
        throw new Refusal("jwks_unavailable");
      }
      throw failure;
    }
  }

  private remember(token: string, payload: JwtPayload): Identity {
    const issuer = this.byIssuer.get(payload.iss as string) as ResolvedIssuer;
    const identity: Identity = { issuerId: issuer.id, subject: payload.sub as string, claims: payload };
    const now = this.now();
    const expiresAt = cacheableUntil(payload.exp as number, now, {
      clockSkewSeconds: this.options.clockSkewSeconds,
      maxTokenLifetimeSeconds: lifetimeOf(issuer),
    });
    if (this.cache !== undefined && expiresAt > now) this.cache.set(token, { identity, expiresAt });
    return identity;
  }
}
