/**
 * A user pool's hosted UI on 127.0.0.1, for browser sign-in tests: no package emulates Cognito's
 * OAuth endpoints (cognito-local and moto have none), so this copies the behaviours cupbearer
 * relies on, as Cognito documents them:
 * - discovery at `<issuer>/.well-known/openid-configuration`, the issuer being a path under the
 *   host (`/<poolId>`), and JWKS at `<issuer>/.well-known/jwks.json`; like Cognito's, the document
 *   names no `revocation_endpoint` and no `end_session_endpoint`;
 * - the hosted UI's endpoints at the root of its domain: `/oauth2/authorize` checks the client and
 *   that `redirect_uri` is one of its callback URLs, then sends the browser to `/login`, an HTML
 *   form; `POST /login` checks the password and redirects to `redirect_uri?code=…&state=…`;
 * - `/oauth2/token`: `authorization_code` (a code used once, within 5 minutes, for the same
 *   client and redirect URI; PKCE S256 checked when a challenge was sent) and `refresh_token`
 *   (new ID and access tokens, the same refresh token: Cognito does not rotate by default);
 *   errors as `{"error": "invalid_grant"}`; client secret by HTTP Basic or in the form;
 * - `/oauth2/revoke`: revokes a refresh token (later refreshes get `invalid_grant`), 200 empty;
 * - `/logout?client_id=…&logout_uri=…`: the URI must be one of the client's sign-out URLs, then a
 *   redirect there (else an error page);
 * - RS256 tokens with Cognito's claims: ID tokens (`token_use: id`, `aud` = client id,
 *   `cognito:username`, `cognito:groups`, `email`, `nonce`), access tokens (`token_use: access`,
 *   `client_id`, `username`, `scope`); the refresh token is opaque and about as long as Cognito's.
 * Users live in memory. Token lifetime is `tokenSeconds` (Cognito's default is one hour).
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { makeKey, signJwt } from "./issuer.js";

export interface HostedUiUser {
  password: string;
  email: string;
  groups?: string[];
}

export interface HostedUiClient {
  clientId: string;
  clientSecret?: string;
  callbackUrls: string[];
  logoutUrls: string[];
}

interface Code {
  clientId: string;
  redirectUri: string;
  challenge: string | undefined;
  nonce: string | undefined;
  scope: string;
  username: string;
  expiresAt: number;
}

interface Grant {
  clientId: string;
  username: string;
  scope: string;
  revoked: boolean;
}

export interface HostedUi {
  /** The host's origin (the hosted UI's domain). */
  origin: string;
  /** The issuer: `<origin>/<poolId>`. */
  issuer: string;
  jwksUri: string;
  client: HostedUiClient;
  users: Map<string, HostedUiUser>;
  /** Lifetime of new ID and access tokens. */
  tokenSeconds: number;
  /** Requests to /oauth2/token by grant type and outcome, like `refresh_token:ok`. */
  tokenCalls: string[];
  /** Refresh tokens revoked so far. */
  revoked: string[];
  /** The logout URIs browsers were sent back to. */
  logouts: string[];
  /** Requests to /login that showed the form (a browser that had to sign in). */
  loginForms: number;
  /** An ID token for `username` as the code flow issues it (for bearer tests). */
  idToken(username: string): string;
  close(): Promise<void>;
}

function html(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" }).end(`<!doctype html>${body}`);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
    .end(JSON.stringify(body));
}

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startHostedUi(opts: {
  client: Omit<HostedUiClient, "clientId"> & { clientId?: string };
  users: Record<string, HostedUiUser>;
  tokenSeconds?: number;
}): Promise<HostedUi> {
  const key = makeKey();
  const poolId = "eu-west-1_HostedUi1";
  const codes = new Map<string, Code>();
  const grants = new Map<string, Grant>();
  const subs = new Map<string, string>();
  const now = () => Math.floor(Date.now() / 1000);

  const ui: HostedUi = {
    origin: "",
    issuer: "",
    jwksUri: "",
    client: { clientId: opts.client.clientId ?? "hostedui-client-1", ...opts.client },
    users: new Map(Object.entries(opts.users)),
    tokenSeconds: opts.tokenSeconds ?? 3600,
    tokenCalls: [],
    revoked: [],
    logouts: [],
    loginForms: 0,
    idToken: (username) => tokens(username, "openid", undefined).id_token,
    close: async () => {},
  };

  function sub(username: string): string {
    let s = subs.get(username);
    if (s === undefined) {
      s = randomUUID();
      subs.set(username, s);
    }
    return s;
  }

  function tokens(username: string, scope: string, nonce: string | undefined) {
    const user = ui.users.get(username) as HostedUiUser;
    const iat = now();
    const exp = iat + ui.tokenSeconds;
    const header = { kid: key.kid, alg: "RS256" };
    const common = {
      sub: sub(username),
      iss: ui.issuer,
      auth_time: iat,
      iat,
      exp,
      jti: randomUUID(),
      origin_jti: randomUUID(),
    };
    const groups =
      user.groups === undefined || user.groups.length === 0 ? {} : { "cognito:groups": user.groups };
    const id_token = signJwt(
      header,
      {
        ...common,
        ...groups,
        aud: ui.client.clientId,
        email: user.email,
        email_verified: true,
        "cognito:username": username,
        token_use: "id",
        ...(nonce === undefined ? {} : { nonce }),
      },
      key.privateKey,
    );
    const access_token = signJwt(
      header,
      { ...common, ...groups, client_id: ui.client.clientId, username, token_use: "access", scope },
      key.privateKey,
    );
    return { id_token, access_token, expires_in: ui.tokenSeconds, token_type: "Bearer" };
  }

  /** The client the request authenticates as (Basic or form), or undefined. */
  function clientOf(req: IncomingMessage, body: URLSearchParams): string | undefined {
    const { client } = ui;
    const basic = req.headers.authorization;
    let id = body.get("client_id") ?? undefined;
    let secret = body.get("client_secret") ?? undefined;
    if (basic?.startsWith("Basic ")) {
      const [u, p] = Buffer.from(basic.slice(6), "base64").toString("utf8").split(":");
      id = decodeURIComponent(u ?? "");
      secret = decodeURIComponent(p ?? "");
    }
    if (id !== client.clientId) return undefined;
    if (client.clientSecret !== undefined && secret !== client.clientSecret) return undefined;
    return id;
  }

  function loginPage(res: ServerResponse, params: URLSearchParams, error?: string): void {
    ui.loginForms++;
    const hidden = [...params.entries()]
      .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
      .join("");
    html(
      res,
      error === undefined ? 200 : 401,
      `<title>Sign in</title><form method="post" action="/login">${hidden}
<p>${error === undefined ? "" : `<span id="error">${escapeHtml(error)}</span>`}</p>
<label>Username <input id="username" name="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="signin" type="submit">Sign in</button></form>`,
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", ui.origin);
    const path = url.pathname;
    const q = url.searchParams;
    if (path === `/${poolId}/.well-known/openid-configuration`) {
      return json(res, 200, {
        issuer: ui.issuer,
        authorization_endpoint: `${ui.origin}/oauth2/authorize`,
        token_endpoint: `${ui.origin}/oauth2/token`,
        userinfo_endpoint: `${ui.origin}/oauth2/userInfo`,
        jwks_uri: ui.jwksUri,
        response_types_supported: ["code", "token"],
        scopes_supported: ["openid", "email", "phone", "profile"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
      });
    }
    if (path === `/${poolId}/.well-known/jwks.json`) return json(res, 200, { keys: [key.publicJwk] });
    if (path === "/oauth2/authorize" && req.method === "GET") {
      if (q.get("client_id") !== ui.client.clientId) return html(res, 400, "<p>invalid_client</p>");
      if (!ui.client.callbackUrls.includes(q.get("redirect_uri") ?? "")) {
        return html(res, 400, "<p>redirect_mismatch</p>");
      }
      if (q.get("response_type") !== "code") return html(res, 400, "<p>unsupported_response_type</p>");
      const method = q.get("code_challenge_method");
      if (q.has("code_challenge") && method !== "S256") return html(res, 400, "<p>invalid_request</p>");
      res.writeHead(302, { location: `/login?${q.toString()}` }).end();
      return;
    }
    if (path === "/login" && req.method === "GET") return loginPage(res, q);
    if (path === "/login" && req.method === "POST") {
      const body = await form(req);
      const username = body.get("username") ?? "";
      const password = body.get("password") ?? "";
      body.delete("username");
      body.delete("password");
      if (ui.users.get(username)?.password !== password) {
        return loginPage(res, body, "Incorrect username or password.");
      }
      const code = randomUUID();
      codes.set(code, {
        clientId: body.get("client_id") ?? "",
        redirectUri: body.get("redirect_uri") ?? "",
        challenge: body.get("code_challenge") ?? undefined,
        nonce: body.get("nonce") ?? undefined,
        scope: body.get("scope") ?? "openid",
        username,
        expiresAt: now() + 300,
      });
      const back = new URL(body.get("redirect_uri") ?? "");
      back.searchParams.set("code", code);
      const state = body.get("state");
      if (state !== null) back.searchParams.set("state", state);
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (path === "/oauth2/token" && req.method === "POST") {
      const body = await form(req);
      const grant = body.get("grant_type");
      const call = (outcome: string) => ui.tokenCalls.push(`${grant}:${outcome}`);
      if (clientOf(req, body) === undefined) {
        call("invalid_client");
        return json(res, 400, { error: "invalid_client" });
      }
      if (grant === "authorization_code") {
        const code = codes.get(body.get("code") ?? "");
        codes.delete(body.get("code") ?? "");
        const verifier = body.get("code_verifier");
        const pkceOk =
          code?.challenge === undefined ||
          (verifier !== null && createHash("sha256").update(verifier).digest("base64url") === code.challenge);
        if (
          code === undefined ||
          code.expiresAt < now() ||
          code.clientId !== ui.client.clientId ||
          code.redirectUri !== body.get("redirect_uri") ||
          !pkceOk
        ) {
          call("invalid_grant");
          return json(res, 400, { error: "invalid_grant" });
        }
        const refresh_token = randomBytes(1300).toString("base64url");
        grants.set(refresh_token, {
          clientId: code.clientId,
          username: code.username,
          scope: code.scope,
          revoked: false,
        });
        call("ok");
        return json(res, 200, { ...tokens(code.username, code.scope, code.nonce), refresh_token });
      }
      if (grant === "refresh_token") {
        const g = grants.get(body.get("refresh_token") ?? "");
        if (g === undefined || g.revoked || !ui.users.has(g.username)) {
          call("invalid_grant");
          return json(res, 400, { error: "invalid_grant" });
        }
        call("ok");
        return json(res, 200, tokens(g.username, g.scope, undefined));
      }
      call("unsupported");
      return json(res, 400, { error: "unsupported_grant_type" });
    }
    if (path === "/oauth2/revoke" && req.method === "POST") {
      const body = await form(req);
      if (clientOf(req, body) === undefined) return json(res, 400, { error: "invalid_client" });
      const token = body.get("token") ?? "";
      const g = grants.get(token);
      if (g !== undefined && !g.revoked) {
        g.revoked = true;
        ui.revoked.push(token);
      }
      res.writeHead(200, { "content-length": "0" }).end();
      return;
    }
    if (path === "/logout" && req.method === "GET") {
      const logoutUri = q.get("logout_uri") ?? "";
      if (q.get("client_id") !== ui.client.clientId || !ui.client.logoutUrls.includes(logoutUri)) {
        return html(res, 400, "<p>Required String parameter 'redirect_uri' is not present</p>");
      }
      ui.logouts.push(logoutUri);
      res.writeHead(302, { location: logoutUri }).end();
      return;
    }
    html(res, 404, "<p>not found</p>");
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  ui.origin = `http://127.0.0.1:${port}`;
  ui.issuer = `${ui.origin}/${poolId}`;
  ui.jwksUri = `${ui.issuer}/.well-known/jwks.json`;
  ui.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return ui;
}
