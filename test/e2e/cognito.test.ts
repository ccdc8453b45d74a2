/**
 * End to end against the real user-pool emulators: real pools, real sign-ins (InitiateAuth),
 * real tokens signed by the emulators' keys, real JWKS fetched over HTTP, cupbearer in between,
 * and a recording upstream that proves what passed and that nothing refused ever arrived.
 *
 * - cognito-local: configured in the OIDC form (`issuer:` + `jwksUri:`), every route rule.
 * - moto: configured in the Cognito form (`cognito: { region, userPoolId }`), whose tokens carry
 *   AWS's real issuer `https://cognito-idp.us-east-1.amazonaws.com/<poolId>`.
 */
import {
  CognitoIdentityProviderClient,
  CreateUserPoolClientCommand,
  InitiateAuthCommand,
} from "@aws-sdk/client-cognito-identity-provider";
import t, { type Test } from "tap";
import { type SeededPool, seedPool } from "../../demo/cognito-emulator.js";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { decodeJwt } from "../support/emulators.js";
import { seedMotoPool } from "../support/moto.js";
import { sharedCognitoLocal, sharedMoto } from "../support/shared.js";
import { type RecordedRequest, type RecordingUpstream, startUpstream } from "../support/upstream.js";

// Two emulator processes plus sign-ins through the AWS SDK: seconds each, more on a loaded machine.
t.setTimeout(180_000);

// moto enforces AWS's default password policy (upper, lower, digit, symbol).
const PASSWORD = "Passw0rd!";
const ALICE = {
  username: "alice",
  password: PASSWORD,
  email: "alice@example.com",
  groups: ["admin", "billing"],
  attributes: { "custom:tenant": "acme" },
};
const BOB = {
  username: "bob",
  password: PASSWORD,
  email: "bob@example.com",
  groups: ["staff"],
  attributes: { "custom:tenant": "globex" },
};
// No email, no group, no tenant: every identity header but the user's must be absent for her.
const CAROL = { username: "carol", password: PASSWORD };
const USER_ADMIN_SCOPE = "aws.cognito.signin.user.admin";

interface Tokens {
  idToken: string;
  accessToken: string;
}

// Both emulators, the run's shared ones (pools of this file's own), before any test: each skips
// loudly when its program is missing (or fails under CI=true).
const [localEmulator, motoEmulator] = await Promise.all([sharedCognitoLocal(t), sharedMoto(t)]);
const up: RecordingUpstream = await startUpstream();
t.teardown(() => up.close());
/** A genuine cognito-local token, to show the moto-only cupbearer refuses it. */
let localAliceTokens: Tokens | undefined;

const last = (): RecordedRequest | undefined => up.requests[up.requests.length - 1];

interface Answer {
  status: number;
  www: string | null;
  body: Record<string, unknown>;
}

async function call(
  base: string,
  path: string,
  token?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    headers: token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` },
  });
  return {
    status: res.status,
    www: res.headers.get("www-authenticate"),
    body: (await res.json()) as Record<string, unknown>,
  };
}

/** Asserts a request passed and returns what the upstream received for it. */
async function passes(
  t: Test,
  base: string,
  path: string,
  token: string,
  headers: Record<string, string> = {},
) {
  const before = up.requests.length;
  const r = await call(base, path, token, headers);
  t.equal(r.status, 200, `${path} → 200`);
  t.equal(up.requests.length, before + 1, "the upstream received it");
  return last();
}

/** Asserts a refusal's status, error code and challenge, and that the upstream saw nothing. */
async function refused(
  t: Test,
  base: string,
  path: string,
  token: string,
  status: 401 | 403,
  headers: Record<string, string> = {},
  /** RFC 6750 §3: the scopes the route needs, on a 403 for a missing scope. */
  scope?: string,
): Promise<void> {
  const error = status === 401 ? "invalid_token" : "insufficient_scope";
  const before = up.requests.length;
  const r = await call(base, path, token, headers);
  t.equal(r.status, status, `${path} → ${status}`);
  t.equal(r.body.error, error, `error ${error}`);
  const attribute = scope === undefined ? "" : `, scope="${scope}"`;
  t.equal(r.www, `Bearer realm="cupbearer", error="${error}"${attribute}`, "WWW-Authenticate");
  t.equal(up.requests.length, before, "the upstream saw nothing");
}

async function metricsText(app: RunningApp): Promise<string> {
  return (await fetch(`${app.adminUrl}/metrics`)).text();
}

function counter(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Same header and signature, a payload of the attacker's choosing. */
function tamper(token: string, change: Record<string, unknown>): string {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
  const forged = Buffer.from(JSON.stringify({ ...claims, ...change })).toString("base64url");
  return `${header}.${forged}.${signature}`;
}

t.test("cognito-local pool as an OIDC-form issuer", async (t) => {
  const emulator = localEmulator;
  if (!emulator) return t.pass("cognito-local not running", { skip: "see the SKIPPED banner" });

  const pool: SeededPool = await seedPool(emulator.endpoint, {
    poolName: "cupbearer-e2e",
    users: [ALICE, BOB, CAROL],
  });
  // A second pool of the same emulator: same signing key, different `iss`.
  const otherPool = await seedPool(emulator.endpoint, { poolName: "other", users: [ALICE] });

  // A second app client of the SAME pool (same iss, same key), not listed in clientIds.
  const sdk = new CognitoIdentityProviderClient({
    endpoint: emulator.endpoint,
    region: "local",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  t.teardown(() => sdk.destroy());
  const intruder = await sdk.send(
    new CreateUserPoolClientCommand({
      UserPoolId: pool.poolId,
      ClientName: "not-allowed",
      GenerateSecret: false,
      ExplicitAuthFlows: ["ALLOW_USER_PASSWORD_AUTH"],
    }),
  );
  const intruderClientId = intruder.UserPoolClient?.ClientId ?? "";
  t.not(intruderClientId, pool.clientId, "a distinct app client");
  const intruderAuth = await sdk.send(
    new InitiateAuthCommand({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: intruderClientId,
      AuthParameters: { USERNAME: ALICE.username, PASSWORD: ALICE.password },
    }),
  );
  const intruderTokens: Tokens = {
    idToken: intruderAuth.AuthenticationResult?.IdToken ?? "",
    accessToken: intruderAuth.AuthenticationResult?.AccessToken ?? "",
  };

  const [alice, bob, carol, otherAlice] = await Promise.all([
    pool.signIn(ALICE.username, ALICE.password),
    pool.signIn(BOB.username, BOB.password),
    pool.signIn(CAROL.username, CAROL.password),
    otherPool.signIn(ALICE.username, ALICE.password),
  ]);
  localAliceTokens = alice;

  const app = await startApp(`
issuers:
  - id: local
    issuer: ${pool.issuer}
    jwksUri: ${pool.jwksUri}
    clientIds: [${pool.clientId}]
routes:
  - id: id-only
    match: { pathPrefix: /id-only }
    upstream: ${up.url}
    auth: { tokenUse: id }
  - id: access-only
    match: { pathPrefix: /access-only }
    upstream: ${up.url}
    auth: { tokenUse: access }
  - id: team
    match: { pathPrefix: /team }
    upstream: ${up.url}
    auth: { groups: [admin, staff] }
  - id: tenant
    match: { pathPrefix: /tenant }
    upstream: ${up.url}
    auth: { tokenUse: id, claims: { "custom:tenant": acme }, claimHeaders: { X-Tenant: "custom:tenant", X-Username: "cognito:username" } }
  - id: profile
    match: { pathPrefix: /profile }
    upstream: ${up.url}
    auth: { tokenUse: access, scopes: [${USER_ADMIN_SCOPE}] }
  - id: orders
    match: { pathPrefix: /orders }
    upstream: ${up.url}
    auth: { tokenUse: access, scopes: [${USER_ADMIN_SCOPE}, orders/write] }
`);
  t.teardown(() => app.stop());
  await waitReady(app.adminUrl, 20_000);
  const base = app.url;

  t.test("the tokens are what the pool issued", async (t) => {
    const id = decodeJwt(alice.idToken).payload;
    const access = decodeJwt(alice.accessToken).payload;
    t.equal(id.iss, pool.issuer);
    t.equal(id.token_use, "id");
    t.equal(id.aud, pool.clientId);
    t.equal(access.token_use, "access");
    t.equal(access.client_id, pool.clientId);
    t.equal(access.scope, USER_ADMIN_SCOPE);
    t.equal(decodeJwt(intruderTokens.accessToken).payload.client_id, intruderClientId);
    t.equal(decodeJwt(intruderTokens.idToken).payload.iss, pool.issuer, "second client: same issuer");
    t.not(decodeJwt(otherAlice.idToken).payload.iss, pool.issuer, "second pool: another issuer");
  });

  t.test("token use: ID token on ID routes, access token on access routes", async (t) => {
    await passes(t, base, "/id-only/me", alice.idToken);
    await refused(t, base, "/access-only/me", alice.idToken, 403);
    await passes(t, base, "/access-only/me", alice.accessToken);
    await refused(t, base, "/id-only/me", alice.accessToken, 403);
  });

  t.test("groups rule: any listed group is enough; none is a 403", async (t) => {
    for (const [who, tokens] of [
      ["alice (admin)", alice],
      ["bob (staff)", bob],
    ] as const) {
      t.comment(who);
      await passes(t, base, "/team/x", tokens.idToken);
      await passes(t, base, "/team/x", tokens.accessToken);
    }
    await refused(t, base, "/team/x", carol.idToken, 403);
    await refused(t, base, "/team/x", carol.accessToken, 403);
  });

  t.test("claims rule on ID tokens: custom:tenant must be acme", async (t) => {
    await passes(t, base, "/tenant/x", alice.idToken);
    await refused(t, base, "/tenant/x", bob.idToken, 403); // tenant globex
    await refused(t, base, "/tenant/x", carol.idToken, 403); // no tenant at all
    // cognito-local's access tokens carry no custom attributes, and the route wants ID tokens anyway.
    await refused(t, base, "/tenant/x", alice.accessToken, 403);
  });

  t.test("scopes rule: the pool's scope passes, one more required scope is a 403", async (t) => {
    await passes(t, base, "/profile/x", alice.accessToken);
    await passes(t, base, "/profile/x", carol.accessToken);
    const needed = "aws.cognito.signin.user.admin orders/write";
    await refused(t, base, "/orders/x", alice.accessToken, 403, {}, needed);
    await refused(t, base, "/orders/x", carol.accessToken, 403, {}, needed);
  });

  t.test("the upstream gets the identity from the token, never a spoofed copy", async (t) => {
    const spoof = {
      "X-Auth-Request-User": "root",
      "x-auth-request-email": "root@evil.test",
      "X-AUTH-REQUEST-GROUPS": "admin,staff",
      "x-tenant": "globex",
      "X-Username": "root",
    };
    const claims = decodeJwt(alice.idToken).payload;
    const got = await passes(t, base, "/tenant/x", alice.idToken, spoof);
    const h = got?.headers ?? {};
    t.equal(h["x-auth-request-user"], claims.sub, "user = the token's sub");
    t.match(h["x-auth-request-user"], /^[0-9a-f-]{36}$/, "a real Cognito sub, not the username");
    t.equal(h["x-auth-request-email"], ALICE.email);
    t.same(claims["cognito:groups"], ["admin", "billing"]);
    t.equal(h["x-auth-request-groups"], "admin,billing", "groups comma-joined");
    t.equal(h["x-tenant"], "acme", "claimHeaders: custom:tenant");
    t.equal(h["x-username"], "alice", "claimHeaders: cognito:username");
    for (const name of [
      "x-auth-request-user",
      "x-auth-request-email",
      "x-auth-request-groups",
      "x-tenant",
      "x-username",
    ]) {
      const copies = (got?.rawHeaders ?? []).filter((v, i) => i % 2 === 0 && v.toLowerCase() === name);
      t.equal(copies.length, 1, `exactly one ${name}`);
    }
    t.notMatch(JSON.stringify(got?.rawHeaders), /root|evil|globex/, "no spoofed value anywhere");

    // Carol has no email, no group, no tenant: the spoofed ones must not slip through in their place.
    const carolGot = await passes(t, base, "/access-only/x", carol.accessToken, spoof);
    const ch = carolGot?.headers ?? {};
    t.equal(ch["x-auth-request-user"], decodeJwt(carol.accessToken).payload.sub);
    for (const name of ["x-auth-request-email", "x-auth-request-groups", "x-tenant", "x-username"]) {
      t.notOk(name in ch, `no ${name} for carol`);
    }

    // The access token has no email claim: no email header, even for alice.
    const accessGot = await passes(t, base, "/access-only/x", alice.accessToken);
    t.equal(accessGot?.headers["x-auth-request-user"], claims.sub, "same sub in both tokens");
    t.equal(accessGot?.headers["x-auth-request-groups"], "admin,billing");
    t.notOk("x-auth-request-email" in (accessGot?.headers ?? {}));
  });

  t.test("a token of an app client not in clientIds is invalid", async (t) => {
    await refused(t, base, "/id-only/x", intruderTokens.idToken, 401);
    await refused(t, base, "/access-only/x", intruderTokens.accessToken, 401);
    await refused(t, base, "/team/x", intruderTokens.accessToken, 401);
  });

  t.test("a token of another pool of the same emulator (same key) is invalid", async (t) => {
    await refused(t, base, "/id-only/x", otherAlice.idToken, 401);
    await refused(t, base, "/access-only/x", otherAlice.accessToken, 401);
  });

  t.test("a tampered token (payload changed, signature kept) is invalid", async (t) => {
    await refused(t, base, "/team/x", carol.idToken, 403); // genuine: no group
    const promoted = tamper(carol.idToken, { "cognito:groups": ["admin"], "custom:tenant": "acme" });
    await refused(t, base, "/team/x", promoted, 401);
    await refused(t, base, "/tenant/x", promoted, 401);
    const impersonating = tamper(bob.accessToken, { sub: decodeJwt(alice.accessToken).payload.sub });
    await refused(t, base, "/access-only/x", impersonating, 401);
    const otherClient = tamper(intruderTokens.accessToken, { client_id: pool.clientId });
    await refused(t, base, "/access-only/x", otherClient, 401);
  });

  t.test("metrics: requests by route, refusals by reason, cache hits on a repeated token", async (t) => {
    const before = counter(await metricsText(app), "cupbearer_token_cache_hits_total");
    await passes(t, base, "/id-only/again", alice.idToken);
    await passes(t, base, "/id-only/again", alice.idToken);
    // A cached token still meets every route's rules.
    await refused(t, base, "/access-only/again", alice.idToken, 403);

    const text = await metricsText(app);
    const hits = counter(text, "cupbearer_token_cache_hits_total");
    t.ok(hits > 0, `cache hits: ${hits}`);
    t.ok(hits >= before + 3, `a repeated token is a cache hit (${before} → ${hits})`);
    t.ok(counter(text, "cupbearer_token_cache_misses_total") > 0, "first sightings are misses");
    for (const [route, status] of [
      ["id-only", 200],
      ["id-only", 403],
      ["id-only", 401],
      ["access-only", 200],
      ["access-only", 403],
      ["team", 200],
      ["team", 403],
      ["tenant", 200],
      ["tenant", 403],
      ["profile", 200],
      ["orders", 403],
    ] as const) {
      const series = `cupbearer_requests_total{route="${route}",method="GET",status="${status}"}`;
      t.ok(counter(text, series) > 0, `${series} > 0`);
    }
    for (const [route, reason] of [
      ["access-only", "token_use"],
      ["team", "group"],
      ["tenant", "claim"],
      ["orders", "scope"],
      ["id-only", "client"],
      ["id-only", "issuer"],
      ["team", "signature"],
    ] as const) {
      const series = `cupbearer_auth_failures_total{route="${route}",reason="${reason}"}`;
      t.ok(counter(text, series) > 0, `${series} > 0`);
    }
    t.ok(
      counter(text, `cupbearer_jwks_fetches_total{issuer="local",result="success"}`) > 0,
      "the JWKS came from the emulator",
    );
  });

  t.test("no token ever reaches the log", async (t) => {
    const log = app.logText();
    for (const token of [alice.idToken, alice.accessToken, carol.idToken, intruderTokens.accessToken]) {
      t.notOk(log.includes(token.split(".")[2] ?? token), "signature not logged");
    }
  });
});

t.test("moto pool as a Cognito-form issuer (AWS's real issuer format)", async (t) => {
  const emulator = motoEmulator;
  if (!emulator) return t.pass("moto_server not running", { skip: "see the SKIPPED banner" });

  const pool = await seedMotoPool(emulator.endpoint, { poolName: "cupbearer-e2e", users: [ALICE, CAROL] });
  // Another moto pool: moto signs every pool's tokens with one static key, so only `iss` differs.
  const otherPool = await seedMotoPool(emulator.endpoint, { poolName: "other", users: [ALICE] });
  const [alice, carol, otherAlice] = await Promise.all([
    pool.signIn(ALICE.username, ALICE.password),
    pool.signIn(CAROL.username, CAROL.password),
    otherPool.signIn(ALICE.username, ALICE.password),
  ]);

  const jwksUri = `${emulator.endpoint}/${pool.poolId}/.well-known/jwks.json`;
  const app = await startApp(`
issuers:
  - id: moto
    cognito: { region: us-east-1, userPoolId: ${pool.poolId} }
    jwksUri: ${jwksUri}
    clientIds: [${pool.clientId}]
routes:
  - id: moto-id
    match: { pathPrefix: /id-only }
    upstream: ${up.url}
    auth: { tokenUse: id, claims: { "custom:tenant": acme } }
  - id: moto-access
    match: { pathPrefix: /access-only }
    upstream: ${up.url}
    auth: { tokenUse: access, scopes: [${USER_ADMIN_SCOPE}] }
  - id: moto-admin
    match: { pathPrefix: /admin }
    upstream: ${up.url}
    auth: { groups: [admin] }
`);
  t.teardown(() => app.stop());
  await waitReady(app.adminUrl, 20_000);
  const base = app.url;

  t.test("moto's tokens carry AWS's issuer for this pool", async (t) => {
    const expected = `https://cognito-idp.us-east-1.amazonaws.com/${pool.poolId}`;
    t.equal(decodeJwt(alice.idToken).payload.iss, expected);
    t.equal(decodeJwt(alice.accessToken).payload.iss, expected);
    t.match(jwksUri, /^http:\/\/127\.0\.0\.1:\d+\//, "keys from moto on loopback, not from AWS");
  });

  t.test("ID and access tokens pass; identity reaches the upstream", async (t) => {
    const claims = decodeJwt(alice.idToken).payload;
    const viaId = await passes(t, base, "/id-only/x", alice.idToken);
    t.equal(viaId?.headers["x-auth-request-user"], claims.sub);
    t.equal(viaId?.headers["x-auth-request-email"], ALICE.email);
    const viaAccess = await passes(t, base, "/access-only/x", alice.accessToken);
    t.equal(viaAccess?.headers["x-auth-request-user"], decodeJwt(alice.accessToken).payload.sub);
    await passes(t, base, "/admin/x", alice.accessToken);
  });

  t.test("rules still apply", async (t) => {
    await refused(t, base, "/access-only/x", alice.idToken, 403);
    await refused(t, base, "/id-only/x", alice.accessToken, 403);
    await refused(t, base, "/id-only/x", carol.idToken, 403);
    await refused(t, base, "/admin/x", carol.accessToken, 403);
  });

  t.test("the issuer is matched exactly: another moto pool (same key) is refused", async (t) => {
    await refused(t, base, "/id-only/x", otherAlice.idToken, 401);
    await refused(t, base, "/access-only/x", otherAlice.accessToken, 401);
    const relabelled = tamper(alice.accessToken, { iss: `${decodeJwt(alice.accessToken).payload.iss}/` });
    await refused(t, base, "/access-only/x", relabelled, 401);
  });

  t.test("a cognito-local token is refused on the moto routes", async (t) => {
    const local = localAliceTokens;
    if (!local) return t.pass("no cognito-local token", { skip: "cognito-local did not run" });
    await refused(t, base, "/id-only/x", local.idToken, 401);
    await refused(t, base, "/access-only/x", local.accessToken, 401);
    await refused(t, base, "/admin/x", local.accessToken, 401);
  });

  t.test("metrics", async (t) => {
    const text = await metricsText(app);
    for (const route of ["moto-id", "moto-access", "moto-admin"]) {
      const series = `cupbearer_requests_total{route="${route}",method="GET",status="200"}`;
      t.ok(counter(text, series) > 0, `${series} > 0`);
    }
    t.ok(
      counter(text, `cupbearer_auth_failures_total{route="moto-id",reason="issuer"}`) > 0,
      "issuer refusals",
    );
  });
});
