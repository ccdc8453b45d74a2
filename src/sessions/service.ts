import { createHash } from "node:crypto";
import * as oidc from "openid-client";
import type { SessionsConfig } from "../config/types.js";
import {
  chunkName,
  clearCookies,
  joinChunks,
  parseCookies,
  setCookie,
  signInCookieName,
  splitChunks,
} from "../core/session-rules.js";
import { Refusal } from "../errors.js";
import { Sealer, type SealPurpose } from "./seal.js";

/**
 * Browser sessions: the OAuth 2.0 authorization code flow with PKCE against a user pool's hosted
 * UI, done by openid-client (discovery, PKCE S256, state and nonce, code exchange, refresh,
 * revocation), and the session kept in sealed cookies (seal.ts). It knows no sockets: the edge
 * (proxy/sessions.ts, proxy/authorize.ts) hands in cookie headers and writes what it returns.
 */

/** How long a sign-in may take, from the redirect to the callback (the sign-in cookie's life). */
export const SIGN_IN_SECONDS = 600;
/** Refreshes in flight at once that later requests of the same session may join. */
const MAX_REFRESHES_IN_FLIGHT = 10_000;

/** What a session's cookie holds: the minimum, tokens and times (seconds since the epoch). */
interface SessionData {
  /** The ID token: what authorizes the session, verified like a bearer ID token. */
  readonly idToken: string;
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  /** When the tokens expire. */
  readonly tokensExpireAt: number;
  /** When the session ends, whatever refreshes happen (`cookie.maxAgeSeconds` after sign-in). */
  readonly endsAt: number;
}

/** A session found in the request's cookies, or why there is none. */
export type Resumed =
  | {
      readonly kind: "session";
      readonly idToken: string;
      readonly accessToken: string;
      /** Cookies to set on the answer (a refreshed session); empty when nothing changed. */
      readonly setCookies: string[];
    }
  /** No usable session; `setCookies` deletes a broken or ended one. */
  | { readonly kind: "none"; readonly setCookies: string[] };

/** The outcome of a refresh: new tokens, a refusal by the pool (the session ends), or a failure to ask. */
type Refreshed =
  | { readonly kind: "tokens"; readonly tokens: oidc.TokenEndpointResponse }
  | { readonly kind: "refused" }
  | { readonly kind: "failed" };

/** Counts each event of a session by outcome (a bounded set). */
export type SessionEventCounter = (
  event: "sign_in" | "refresh" | "sign_out",
  result: "ok" | "refused" | "failed",
) => void;

export interface SessionServiceProps {
  readonly config: SessionsConfig;
  /** The issuer's URL: discovery reads `<issuer>/.well-known/openid-configuration`. */
  readonly issuerUrl: string;
  /** Allow plain http to the pool (a loopback emulator, or the issuer's `allowInsecureHttp`). */
  readonly allowHttp: boolean;
  /** Verifies an ID token exactly as a bearer token is verified; throws a Refusal. */
  readonly verifyIdToken: (token: string) => Promise<unknown>;
  readonly count: SessionEventCounter;
  /** Milliseconds since the epoch (tests pass their own clock). */
  readonly now?: () => number;
}

export class SessionService {
  readonly config: SessionsConfig;
  readonly #props: SessionServiceProps;
  readonly #sealer: Sealer;
  readonly #now: () => number;
  #discovered: Promise<oidc.Configuration> | undefined;
  readonly #refreshing = new Map<string, Promise<Refreshed>>();

  constructor(props: SessionServiceProps) {
    this.#props = props;
    this.config = props.config;
    this.#sealer = new Sealer(props.config.cookie.keys);
    this.#now = props.now ?? Date.now;
  }

  /** The pool's endpoints, discovered once; a failed discovery is tried again by the next caller. */
  configuration(): Promise<oidc.Configuration> {
    this.#discovered ??= this.#discover().catch((err: unknown) => {
      this.#discovered = undefined;
      throw new Refusal("sign_in_unavailable", `discovery failed: ${(err as Error)?.message}`);
    });
    return this.#discovered;
  }

  async #discover(): Promise<oidc.Configuration> {
    const { config, allowHttp } = this.#props;
    const auth =
      config.clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(config.clientSecret);
    const timeout = Math.ceil(config.timeoutMs / 1000);
    const found = await oidc.discovery(new URL(this.#props.issuerUrl), config.clientId, undefined, auth, {
      execute: allowHttp ? [oidc.allowInsecureRequests] : [],
      timeout,
    });
    // Plain JSON: the metadata without the helpers openid-client adds to it.
    const server = JSON.parse(JSON.stringify(found.serverMetadata())) as oidc.ServerMetadata;
    // Cognito's discovery document names neither a revocation nor an end-session endpoint; its
    // revocation endpoint is documented as /oauth2/revoke on the hosted UI's domain.
    const metadata =
      server.revocation_endpoint === undefined && server.token_endpoint !== undefined
        ? { ...server, revocation_endpoint: new URL("/oauth2/revoke", server.token_endpoint).href }
        : server;
    const configuration = new oidc.Configuration(metadata, config.clientId, undefined, auth);
    if (allowHttp) oidc.allowInsecureRequests(configuration);
    configuration.timeout = timeout;
    return configuration;
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  #open(purpose: SealPurpose, sealed: string | undefined): Record<string, unknown> | undefined {
    return sealed === undefined ? undefined : this.#sealer.open(purpose, sealed, this.#seconds());
  }

  /** Where the browser is sent to sign in, and the cookie that binds state, nonce and PKCE verifier to it. */
  async startSignIn(origin: string, returnPath: string): Promise<{ location: string; setCookie: string }> {
    const configuration = await this.configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: new URL(this.config.callbackPath, origin).href,
      scope: this.config.scopes.join(" "),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    const sealed = this.#sealer.seal(
      "signin",
      { state, nonce, verifier, returnPath },
      this.#seconds() + SIGN_IN_SECONDS,
    );
    return {
      location: url.href,
      setCookie: setCookie(signInCookieName(this.config.cookie.name), sealed, SIGN_IN_SECONDS),
    };
  }

  /**
   * The callback: checks the state against the sign-in cookie, exchanges the code (PKCE verifier,
   * nonce), verifies the ID token, and seals the session. Returns where to send the browser and
   * the cookies to set; throws a Refusal (the upstream never sees a callback).
   */
  async finishSignIn(
    origin: string,
    query: string,
    cookieHeader: string | undefined,
  ): Promise<{ location: string; setCookies: string[] }> {
    const cookies = parseCookies(cookieHeader);
    const signIn = signInCookieName(this.config.cookie.name);
    const pending = this.#open("signin", cookies.get(signIn));
    const { state, nonce, verifier, returnPath } = pending ?? {};
    if (
      typeof state !== "string" ||
      typeof nonce !== "string" ||
      typeof verifier !== "string" ||
      typeof returnPath !== "string"
    ) {
      this.#props.count("sign_in", "refused");
      throw new Refusal("sign_in_state", "no valid sign-in cookie");
    }
    const configuration = await this.configuration();
    let tokens: oidc.TokenEndpointResponse;
    try {
      tokens = await oidc.authorizationCodeGrant(
        configuration,
        new URL(this.config.callbackPath + query, origin),
        { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
      );
    } catch (err) {
      throw this.#signInError(err);
    }
    const session = await this.#sessionOf(
      tokens,
      undefined,
      this.#seconds() + this.config.cookie.maxAgeSeconds,
    );
    if (session === undefined) {
      this.#props.count("sign_in", "refused");
      throw new Refusal("sign_in_failed", "the token response lacks a token");
    }
    try {
      await this.#props.verifyIdToken(session.idToken);
    } catch (err) {
      this.#props.count("sign_in", "refused");
      throw err;
    }
    const setCookies = this.#sessionCookies(session, cookies);
    setCookies.push(setCookie(signIn, "", 0));
    this.#props.count("sign_in", "ok");
    return { location: returnPath, setCookies };
  }

  #signInError(err: unknown): Refusal {
    // The pool or the checks said no (a wrong state, a used code, an error answer): the caller's
    // request is bad. Anything else (no answer, a timeout) is the pool's outage.
    const refused =
      err instanceof oidc.ResponseBodyError ||
      err instanceof oidc.AuthorizationResponseError ||
      (typeof (err as { code?: unknown })?.code === "string" &&
        ((err as { code: string }).code.startsWith("OAUTH_") ||
          (err as { code: string }).code === "ERR_INVALID_ARG_VALUE"));
    this.#props.count("sign_in", refused ? "refused" : "failed");
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return new Refusal(refused ? "sign_in_failed" : "sign_in_unavailable", detail);
  }

  /** A session from a token response; `previous` supplies what a refresh answer leaves out. */
  async #sessionOf(
    tokens: oidc.TokenEndpointResponse,
    previous: SessionData | undefined,
    endsAt: number,
  ): Promise<SessionData | undefined> {
    const idToken = tokens.id_token ?? previous?.idToken;
    if (idToken === undefined || tokens.access_token === undefined) return undefined;
    const lifetime = typeof tokens.expires_in === "number" ? tokens.expires_in : 3600;
    return {
      idToken,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token ?? previous?.refreshToken,
      tokensExpireAt: Math.min(this.#seconds() + lifetime, endsAt),
      endsAt,
    };
  }

  /** `Set-Cookie` values for a session, deleting chunks of an older, longer one. */
  #sessionCookies(session: SessionData, present: ReadonlyMap<string, string | undefined>): string[] {
    const payload = {
      i: session.idToken,
      a: session.accessToken,
      ...(session.refreshToken === undefined ? {} : { r: session.refreshToken }),
      t: session.tokensExpireAt,
    };
    const chunks = splitChunks(this.#sealer.seal("session", payload, session.endsAt));
    const name = this.config.cookie.name;
    if (chunks === undefined)
      throw new Refusal("session_too_large", "the tokens do not fit the cookie chunks");
    const maxAge = session.endsAt - this.#seconds();
    const out = chunks.map((value, i) => setCookie(chunkName(name, i), value, maxAge));
    return out.concat(clearCookies(present, name, chunks.length));
  }

  /** The session in `cookieHeader`, refreshed when its tokens are about to expire. */
  async resume(cookieHeader: string | undefined): Promise<Resumed> {
    const name = this.config.cookie.name;
    const cookies = parseCookies(cookieHeader);
    if (!cookies.has(name)) return { kind: "none", setCookies: [] };
    const opened = this.#open("session", joinChunks(cookies, name));
    const session = opened === undefined ? undefined : sessionData(opened);
    if (session === undefined) return { kind: "none", setCookies: clearCookies(cookies, name) };
    const now = this.#seconds();
    if (now < session.tokensExpireAt - this.config.refreshBeforeSeconds) {
      return { kind: "session", idToken: session.idToken, accessToken: session.accessToken, setCookies: [] };
    }
    const stillValid = now < session.tokensExpireAt;
    const refreshed =
      session.refreshToken === undefined ? undefined : await this.#refresh(session.refreshToken);
    if (refreshed?.kind === "tokens") {
      const next = await this.#sessionOf(refreshed.tokens, session, session.endsAt);
      if (next !== undefined) {
        return {
          kind: "session",
          idToken: next.idToken,
          accessToken: next.accessToken,
          setCookies: this.#sessionCookies(next, cookies),
        };
      }
    }
    // The pool could not be asked: the tokens serve until they expire, then the caller waits.
    if (refreshed?.kind === "failed") {
      if (stillValid)
        return {
          kind: "session",
          idToken: session.idToken,
          accessToken: session.accessToken,
          setCookies: [],
        };
      throw new Refusal("sign_in_unavailable", "the session's refresh failed");
    }
    return { kind: "none", setCookies: clearCookies(cookies, name) };
  }

  /** `Set-Cookie` values that end the session in `cookieHeader`. */
  endCookies(cookieHeader: string | undefined): string[] {
    return clearCookies(parseCookies(cookieHeader), this.config.cookie.name);
  }

  /** One refresh per refresh token at a time: concurrent requests of a session share it. */
  #refresh(refreshToken: string): Promise<Refreshed> {
    const key = createHash("sha256").update(refreshToken).digest("base64url");
    const running = this.#refreshing.get(key);
    if (running !== undefined) return running;
    const call = this.#callRefresh(refreshToken).finally(() => this.#refreshing.delete(key));
    // Bounded: past the limit a refresh runs unshared rather than growing the map.
    if (this.#refreshing.size < MAX_REFRESHES_IN_FLIGHT) this.#refreshing.set(key, call);
    return call;
  }

  async #callRefresh(refreshToken: string): Promise<Refreshed> {
    try {
      const configuration = await this.configuration();
      const tokens = await oidc.refreshTokenGrant(configuration, refreshToken);
      if (tokens.id_token !== undefined) await this.#props.verifyIdToken(tokens.id_token);
      this.#props.count("refresh", "ok");
      return { kind: "tokens", tokens };
    } catch (err) {
      // Only the pool's own "no" (or an ID token the verifier refuses) ends the session.
      const refused =
        err instanceof oidc.ResponseBodyError ||
        (err instanceof Refusal && err.answerName === "invalid_token");
      this.#props.count("refresh", refused ? "refused" : "failed");
      return refused ? { kind: "refused" } : { kind: "failed" };
    }
  }

  /**
   * Sign-out: revokes the refresh token (which also ends the access tokens it issued), deletes the
   * cookies, and sends the browser to the pool's `/logout` so its own session ends too.
   */
  async signOut(cookieHeader: string | undefined): Promise<{ location: string; setCookies: string[] }> {
    const name = this.config.cookie.name;
    const cookies = parseCookies(cookieHeader);
    // An expired session's refresh token may still be good: open it without the expiry check.
    const sealed = joinChunks(cookies, name);
    const opened = sealed === undefined ? undefined : this.#sealer.open("session", sealed, 0);
    const refreshToken = typeof opened?.r === "string" ? opened.r : undefined;
    let result: "ok" | "failed" = "ok";
    let location = "/";
    try {
      const configuration = await this.configuration();
      if (refreshToken !== undefined) {
        await oidc.tokenRevocation(configuration, refreshToken, { token_type_hint: "refresh_token" });
      }
      location = this.logoutUrl(configuration) ?? "/";
    } catch {
      result = "failed";
    }
    this.#props.count("sign_out", result);
    const setCookies = clearCookies(cookies, name);
    if (cookies.has(signInCookieName(name))) setCookies.push(setCookie(signInCookieName(name), "", 0));
    return { location, setCookies };
  }

  /** Cognito's `/logout?client_id=…&logout_uri=…` on the hosted UI's domain, when `logoutUri` is set. */
  logoutUrl(configuration: oidc.Configuration): string | undefined {
    const { logoutUri } = this.config;
    const authorize = configuration.serverMetadata().authorization_endpoint;
    if (logoutUri === undefined || authorize === undefined) return undefined;
    const url = new URL("/logout", authorize);
    url.searchParams.set("client_id", this.config.clientId);
    url.searchParams.set("logout_uri", logoutUri);
    return url.href;
  }
}

/** The session fields of an opened cookie, or undefined when one is missing or of the wrong type. */
function sessionData(opened: Record<string, unknown>): SessionData | undefined {
  const { i, a, r, t, exp } = opened;
  if (typeof i !== "string" || typeof a !== "string" || typeof t !== "number" || typeof exp !== "number") {
    return undefined;
  }
  if (r !== undefined && typeof r !== "string") return undefined;
  return { idToken: i, accessToken: a, refreshToken: r, tokensExpireAt: t, endsAt: exp };
}
