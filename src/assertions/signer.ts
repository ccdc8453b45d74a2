import { createHash, type KeyObject } from "node:crypto";
import { type JWK, SignJWT } from "jose";
import { LRUCache } from "lru-cache";
import { albLayout, assertionClaims, assertionTimes } from "../core/assertion.js";
import type { Identity } from "../core/identity.js";
import { describeKey, type SigningKey } from "./keys.js";

export interface AssertionSignerOptions {
  /** `assertions.issuer`: the assertions' `iss` and ALB's `signer`. */
  readonly issuer: string;
  /** Private P-256 keys, the signing one first; all are published. At least one. */
  readonly keys: readonly KeyObject[];
  /** Longest life of one assertion, seconds. */
  readonly lifetimeSeconds: number;
  /** Signed assertions kept for reuse; 0 signs every request. */
  readonly cacheMaxEntries: number;
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
}

interface Cached {
  readonly jwt: Promise<string>;
  /** Seconds: sent again only before this. */
  readonly reuseUntil: number;
}

/**
 * Signs cupbearer's identity assertions (ES256, with jose) and publishes their keys. Signing costs
 * far more than a header, so each signed assertion is kept per (route, token) and sent again
 * while at least half its life is ahead (core/assertion.ts), in a bounded LRU; concurrent first
 * requests of one caller share one signature.
 */
export class AssertionSigner {
  readonly #options: AssertionSignerOptions;
  readonly #keys: Promise<SigningKey[]>;
  readonly #cache: LRUCache<string, Cached> | undefined;
  readonly #now: () => number;

  constructor(options: AssertionSignerOptions) {
    if (options.keys.length === 0) throw new Error("assertions need at least one key");
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#keys = Promise.all(options.keys.map(describeKey));
    this.#cache =
      options.cacheMaxEntries > 0
        ? new LRUCache<string, Cached>({ max: options.cacheMaxEntries })
        : undefined;
  }

  /** The published keys: a JWKS (RFC 7517 §5). */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: (await this.#keys).map((k) => k.jwk) };
  }

  /** The public key of `kid` as PEM, as ALB clients fetch it; undefined for a kid not published. */
  async pem(kid: string): Promise<string | undefined> {
    return (await this.#keys).find((k) => k.kid === kid)?.pem;
  }

  /** cupbearer's assertion about the caller of `token`, for the route `audience`. */
  assertion(audience: string, identity: Identity, token: string | undefined): Promise<string> {
    return this.#cached(`a\n${audience}`, token, identity, async (key, times) =>
      new SignJWT(assertionClaims(identity, this.#options.issuer, audience, times))
        .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" })
        .sign(key.privateKey),
    );
  }

  /** The caller's claims in ALB's `x-amzn-oidc-data` layout, base64url without padding. */
  albData(identity: Identity, token: string | undefined): Promise<string> {
    return this.#cached("alb", token, identity, async (key, times) => {
      const { header, payload } = albLayout(identity, this.#options.issuer, times);
      return new SignJWT(payload)
        .setProtectedHeader({ alg: "ES256", kid: key.kid, ...header })
        .sign(key.privateKey);
    });
  }

  #cached(
    kind: string,
    token: string | undefined,
    identity: Identity,
    sign: (key: SigningKey, times: ReturnType<typeof assertionTimes>) => Promise<string>,
  ): Promise<string> {
    const nowSeconds = this.#now() / 1000;
    const cache = this.#cache;
    // The token's digest, not the token: entries stay small whatever the token's size.
    const id =
      cache === undefined || token === undefined
        ? undefined
        : `${kind}\n${createHash("sha256").update(token).digest("base64")}`;
    const hit = id === undefined ? undefined : cache?.get(id);
    if (hit !== undefined && nowSeconds < hit.reuseUntil) return hit.jwt;
    const times = assertionTimes(nowSeconds, this.#options.lifetimeSeconds, identity.claims.exp);
    const jwt = this.#keys.then((keys) => sign(keys[0] as SigningKey, times));
    if (id !== undefined && cache !== undefined) {
      if (times.reuseUntil > nowSeconds) cache.set(id, { jwt, reuseUntil: times.reuseUntil });
      else cache.delete(id);
      // A failed signature is not kept: the next request tries again.
      jwt.catch(() => {
        if (cache.get(id)?.jwt === jwt) cache.delete(id);
      });
    }
    return jwt;
  }
}
