import t from "tap";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { hs256WithPublicKey, makeKey, signJwt, startIssuer, type TestIssuer } from "../support/issuer.js";

const stranger = makeKey("not-published");

import { type RecordingUpstream, startUpstream } from "../support/upstream.js";

/**
 * Every kind of bad token, driven through a running cupbearer to a recording upstream: each gets
 * its exact answer, and the upstream's record proves it never saw the request.
 */
let issuer: TestIssuer;
let other: TestIssuer;
let up: RecordingUpstream;
let app: RunningApp;

t.before(async () => {
  issuer = await startIssuer();
  other = await startIssuer();
  up = await startUpstream();
  app = await startApp(`
tokens: { clockSkewSeconds: 5, unknownKidWaitSeconds: 60 }
limits: { maxTokenBytes: 4096 }
issuers:
  - id: local
    issuer: ${issuer.issuer}
    jwksUri: ${issuer.jwksUri}
    clientIds: [test-client]
  - id: other
    issuer: ${other.issuer}
    jwksUri: ${other.jwksUri}
    clientIds: [test-client]
routes:
  - id: orders
    match: { pathPrefix: /api/orders }
    upstream: ${up.url}
    auth: { issuers: [local], tokenUse: access, scopes: [orders/read], groups: [admin, staff], claims: { "custom:tenant": acme } }
  - id: ids
    match: { pathPrefix: /api/me }
    upstream: ${up.url}
    auth: { tokenUse: id }
`);
  await waitReady(app.adminUrl);
});
t.teardown(async () => {
  await app.stop();
  await Promise.all([up.close(), issuer.close(), other.close()]);
});

const good = { "cognito:groups": ["staff"], "custom:tenant": "acme" };

async function call(path: string, token?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${app.url}${path}`, {
    headers: token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers },
  });
  return {
    status: res.status,
    www: res.headers.get("www-authenticate"),
    body: (await res.json()) as Record<string, unknown>,
  };
}

t.test("a valid token passes and the upstream sees it", async (t) => {
  const before = up.requests.length;
  const r = await call("/api/orders/1", issuer.token(good));
  t.equal(r.status, 200);
  t.equal(up.requests.length, before + 1);
});

const now = () => Math.floor(Date.now() / 1000);
const cases: Array<{
  name: string;
  token: () => string | undefined;
  status: number;
  error: string;
  www: string;
}> = [
  {
    name: "no token",
    token: () => undefined,
    status: 401,
    error: "unauthorized",
    www: 'Bearer realm="cupbearer"',
  },
  {
    name: "garbage",
    token: () => "not-a-jwt",
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "three garbage segments",
    token: () => "aaaa.bbbb.cccc",
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "alg none",
    token: () =>
      signJwt(
        { alg: "none", kid: issuer.keys[0]?.kid },
        {
          iss: issuer.issuer,
          sub: "x",
          client_id: "test-client",
          token_use: "access",
          scope: "orders/read",
          exp: now() + 600,
          ...good,
        },
      ),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "HS256 signed with the public key",
    token: () =>
      hs256WithPublicKey(issuer.keys[0] as never, {
        iss: issuer.issuer,
        sub: "x",
        client_id: "test-client",
        token_use: "access",
        scope: "orders/read",
        exp: now() + 600,
        ...good,
      }),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "tampered payload",
    token: () => {
      const [h, , s] = issuer.token(good).split(".");
      const forged = Buffer.from(
        JSON.stringify({
          iss: issuer.issuer,
          sub: "admin",
          client_id: "test-client",
          token_use: "access",
          scope: "orders/read",
          exp: now() + 600,
          ...good,
        }),
      ).toString("base64url");
      return `${h}.${forged}.${s}`;
    },
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "unknown kid",
    token: () => issuer.token(good, { key: stranger }),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "expired",
    token: () => issuer.token({ ...good, exp: now() - 60 }),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "not yet valid",
    token: () => issuer.token({ ...good, nbf: now() + 120 }),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "no exp",
    token: () => issuer.token({ ...good, exp: undefined }),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "wrong issuer",
    token: () => issuer.token({ ...good, iss: "http://127.0.0.1:1/evil" }),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "another issuer's key claiming our iss",
    token: () => issuer.token(good, { key: other.keys[0] }),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "wrong client",
    token: () => issuer.token({ ...good, client_id: "someone-else" }),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "oversized token",
    token: () => issuer.token({ ...good, padding: "x".repeat(5000) }),
    status: 401,
    error: "invalid_token",
    www: 'Bearer realm="cupbearer", error="invalid_token"',
  },
  {
    name: "ID token where an access token is required",
    token: () => issuer.token({ ...good, token_use: "id", aud: "test-client", client_id: undefined }),
    status: 403,
    error: "insufficient_scope",
    www: 'Bearer realm="cupbearer", error="insufficient_scope"',
  },
  {
    name: "missing scope",
    token: () => issuer.token({ ...good, scope: "orders/write" }),
    status: 403,
    error: "insufficient_scope",
    // RFC 6750 §3: the scopes the route needs.
    www: 'Bearer realm="cupbearer", error="insufficient_scope", scope="orders/read"',
  },
  {
    name: "missing group",
    token: () => issuer.token({ ...good, "cognito:groups": ["guest"] }),
    status: 403,
    error: "insufficient_scope",
    www: 'Bearer realm="cupbearer", error="insufficient_scope"',
  },
  {
    name: "wrong claim",
    token: () => issuer.token({ ...good, "custom:tenant": "globex" }),
    status: 403,
    error: "insufficient_scope",
    www: 'Bearer realm="cupbearer", error="insufficient_scope"',
  },
  {
    name: "valid token of an issuer the route does not accept",
    token: () => other.token(good),
    status: 403,
    error: "insufficient_scope",
    www: 'Bearer realm="cupbearer", error="insufficient_scope"',
  },
];

for (const c of cases) {
  t.test(`refuses: ${c.name}`, async (t) => {
    const token = c.token();
    const before = up.requests.length;
    const r = await call("/api/orders/1", token);
    t.equal(r.status, c.status, "status");
    t.equal(r.www, c.www, "WWW-Authenticate");
    t.equal(r.body.error, c.error, "error code");
    t.match(r.body, { message: String, requestId: String });
    t.same(Object.keys(r.body).sort(), ["error", "message", "requestId"], "nothing but the three fields");
    t.equal(up.requests.length, before, "the upstream never saw it");
    if (token !== undefined && token.length > 10)
      t.notOk(app.logText().includes(token), "the token is never logged");
  });
}

t.test("ID token route takes ID tokens and refuses access tokens", async (t) => {
  const id = await call(
    "/api/me",
    issuer.token({ token_use: "id", aud: "test-client", client_id: undefined }),
  );
  t.equal(id.status, 200);
  const access = await call("/api/me", issuer.token());
  t.equal(access.status, 403);
});

t.test("auth failures are counted by route and reason", async (t) => {
  const text = await (await fetch(`${app.adminUrl}/metrics`)).text();
  for (const reason of [
    "missing",
    "malformed",
    "signature",
    "expired",
    "not_yet_valid",
    "issuer",
    "client",
    "unknown_kid",
    "too_large",
    "token_use",
    "scope",
    "group",
    "claim",
  ]) {
    t.match(
      text,
      new RegExp(`cupbearer_auth_failures_total\\{route="orders",reason="${reason}"\\} [1-9]`),
      reason,
    );
  }
  t.notMatch(text, /\/api\/orders/, "no raw path in any label");
});
