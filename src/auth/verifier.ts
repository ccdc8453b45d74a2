import { validateCognitoJwtFields } from "aws-jwt-verify/cognito-verifier";
import {
  CognitoJwtInvalidClientIdError,
  CognitoJwtInvalidTokenUseError,
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
import { type IssuerConfig, issuerUrl } from "../config/schema.js";
import type { Identity } from "../core/identity.js";
import { type FailureReason, GatewayError } from "../errors.js";
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
function customCheck(issuer: ResolvedIssuer) {
  return ({ payload }: { payload: JwtPayload }): void => {
    if (typeof payload.exp !== "number")
      throw new GatewayError("invalid_token", "malformed", "token has no exp");
    if (typeof payload.sub !== "string" || payload.sub === "") {
      throw new GatewayError("invalid_token", "malformed", "token has no sub");
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
      throw new GatewayError("invalid_token", "client", "client not accepted");
    }
  };
}

/** aws-jwt-verify's error classes → our bounded reasons. */
export function failureOf(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
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
                : err instanceof CognitoJwtInvalidTokenUseError
                  ? "token_use"
                  : err instanceof KidNotFoundInJwksError ||
                      err instanceof WaitPeriodNotYetEndedJwkError ||
                      err instanceof JwtWithoutValidKidError
                    ? "unknown_kid"
                    : err instanceof FetchError || err instanceof JwksValidationError
                      ? "jwks_unavailable"
                      : "malformed";
  if (reason === "jwks_unavailable") return new GatewayError("unavailable", reason, (err as Error).message);
  return new GatewayError("invalid_token", reason, err instanceof Error ? err.message : undefined);
}

/** The two calls cupbearer makes of aws-jwt-verify's multi-issuer verifier (its generics do not help here). */
interface JwtCheck {
  verifySync(jwt: string): JwtPayload;
  verify(jwt: string): Promise<JwtPayload>;
}

interface CacheEntry {
  identity: Identity;
}

/**
 * Verifies tokens of the configured issuers with aws-jwt-verify, remembering verified ones in a
 * bounded LRU whose entries expire no later than the token itself. A cache hit skips only the
 * signature check; the route's rules are always evaluated by the caller.
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
      customJwtCheck: customCheck(i),
    }));
    // An empty config (public routes only) still gets a verifier that knows no issuer.
    this.verifier =
      props.length > 0
        ? (JwtVerifier.create(props, { jwksCache: this.jwksCache }) as unknown as JwtCheck)
        : undefined;
    this.cache =
      options.cacheMaxEntries > 0
        ? new LRUCache<string, CacheEntry>({ max: options.cacheMaxEntries, ttlAutopurge: false })
        : undefined;
  }

  get issuers(): readonly ResolvedIssuer[] {
    return this.options.issuers;
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

  /** Verifies a token, or throws a GatewayError saying why not. */
  async verify(token: string): Promise<Identity> {
    const hit = this.cache?.get(token);
    if (hit !== undefined) {
      this.options.onCacheHit?.();
      return hit.identity;
    }
    this.options.onCacheMiss?.();
    if (this.verifier === undefined) throw new GatewayError("invalid_token", "issuer");
    let payload: JwtPayload;
    try {
      // The synchronous path needs the key already cached; an unknown kid falls back to the
      // asynchronous one, which refetches the JWKS within the RefetchLimiter's bounds.
      payload = this.verifier.verifySync(token);
    } catch (err) {
      if (!(err instanceof KidNotFoundInJwksError || err instanceof JwksNotAvailableInCacheError))
        throw failureOf(err);
      payload = await this.verifyFetchingKeys(this.verifier, token);
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
        throw new GatewayError("unavailable", "jwks_unavailable");
      }
      throw failure;
    }
  }

  private remember(token: string, payload: JwtPayload): Identity {
    const issuer = this.byIssuer.get(payload.iss as string) as ResolvedIssuer;
    const identity: Identity = { issuerId: issuer.id, subject: payload.sub as string, claims: payload };
    const ttl = (payload.exp as number) * 1000 - this.now();
    if (this.cache !== undefined && ttl > 0) this.cache.set(token, { identity }, { ttl });
    return identity;
  }
}
