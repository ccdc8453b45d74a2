/**
 * The forward-auth endpoint asked directly, as an ingress would: the same decisions as the proxy
 * for the same table of requests (it runs the proxy's own `authorize`) in each shape (nginx,
 * Traefik/Caddy, Envoy), identity headers in its 200, trusted sources only, both listeners, the
 * routes' rate limits. The nginx and Caddy tests (forward-auth-nginx.test.ts,
 * forward-auth-caddy.test.ts) put a real ingress in front; forward-auth-envoy.test.ts a
 * protocol-level Envoy.
 */
import t from "tap";
import { request } from "undici";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { type DecisionCase, decisionCases, routesYaml } from "../support/forward-auth-table.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { rawRequest } from "../support/raw.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";

let issuer: TestIssuer;
let up: RecordingUpstream;
let app: RunningApp;
/** The same routes, asked in the other shapes. */
let traefikApp: RunningApp;
let envoyApp: RunningApp;

t.before(async () => {
  issuer = await startIssuer();
  up = await startUpstream();
  app = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
identityPools:
  - { id: main, identityPoolId: "us-east-1:11111111-2222-3333-4444-555555555555", region: us-east-1, endpoint: "http://127.0.0.1:9" }
forwardAuth: { ingress: nginx, trustedSources: [127.0.0.0/8, "::1"] }
routes:
${routesYaml(up.url)}
  - id: files
    match: { pathPrefix: /files }
    upstream: { url: "http://127.0.0.1:9", aws: { service: s3, region: us-east-1, identityPool: main } }
    auth: { tokenUse: id }
`);
  await waitReady(app.adminUrl);
  const shaped = (ingress: string) =>
    startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
forwardAuth: { ingress: ${ingress}, trustedSources: [127.0.0.0/8] }
routes:
${routesYaml(up.url)}
`);
  [traefikApp, envoyApp] = await Promise.all([shaped("traefik"), shaped("envoy")]);
  await Promise.all([waitReady(traefikApp.adminUrl), waitReady(envoyApp.adminUrl)]);
});
t.teardown(async () => {
  await Promise.all([app.stop(), traefikApp.stop(), envoyApp.stop()]);
  await Promise.all([up.close(), issuer.close()]);
});

const IDENTITY = ["x-auth-request-user", "x-auth-request-email", "x-auth-request-groups", "x-tenant"];
/** Headers only cupbearer writes on the way to an upstream (auth.assertion, auth.albHeaders). */
const SIGNED = [
  "x-amzn-oidc-accesstoken",
  "x-amzn-oidc-data",
  "x-amzn-oidc-identity",
  "x-cupbearer-assertion",
];
const identityOf = (h: Record<string, string | string[] | undefined>) =>
  Object.fromEntries(IDENTITY.filter((n) => h[n] !== undefined).map((n) => [n, h[n]]));

async function viaProxy(c: DecisionCase, token: string | undefined) {
  const before = up.requests.length;
  const headers: Record<string, string> = { host: c.host };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await request(`${app.url}${c.target}`, { method: c.method as "GET", headers });
  await res.body.text();
  const seen = up.requests.slice(before);
  return {
    status: res.statusCode,
    identity: seen.length === 1 ? identityOf(seen[0]?.headers ?? {}) : undefined,
  };
}

async function askNginxShape(
  base: string,
  c: DecisionCase,
  token: string | undefined,
  extra: Record<string, string> = {},
) {
  const headers: Record<string, string> = {
    "x-original-url": `https://${c.host}${c.target}`,
    "x-original-method": c.method,
    ...extra,
  };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await request(`${base}/_cupbearer/auth`, { headers });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}

/** Traefik's ForwardAuth (and Caddy's forward_auth): X-Forwarded-Method/-Host/-Uri. */
async function askTraefikShape(base: string, c: DecisionCase, token: string | undefined) {
  const headers: Record<string, string> = {
    "x-forwarded-method": c.method,
    "x-forwarded-host": c.host,
    "x-forwarded-uri": c.target,
  };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await request(`${base}/_cupbearer/auth`, { headers });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}

/**
 * Envoy's ext_authz HTTP service: the original method, Host and path behind `path_prefix`, the
 * allowed headers (Authorization always) and `Content-Length: 0`.
 */
async function askEnvoyShape(base: string, c: DecisionCase, token: string | undefined) {
  const headers: Record<string, string> = { host: c.host, "content-length": "0" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await request(`${base}/_cupbearer/auth${c.target}`, { method: c.method as "GET", headers });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}

const removals = (h: Record<string, string | string[] | undefined>) =>
  String(h["x-envoy-auth-headers-to-remove"] ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "")
    .sort();

t.test("the same decisions as the proxy, for the same table of requests, in every shape", async (t) => {
  const shapes = [
    { name: "nginx", base: () => app.url, ask: askNginxShape },
    { name: "traefik", base: () => traefikApp.url, ask: askTraefikShape },
    { name: "envoy", base: () => envoyApp.url, ask: askEnvoyShape },
  ];
  for (const c of decisionCases(issuer)) {
    const token = c.token?.();
    const proxied = await viaProxy(c, token);
    t.equal(proxied.status, c.status, `${c.name}: proxy ${c.status}`);
    for (const shape of shapes) {
      const before = up.requests.length;
      const asked = await shape.ask(shape.base(), c, token);
      const what = `${c.name} (${shape.name})`;
      t.equal(up.requests.length, before, `${what}: forward-auth forwards nothing`);
      t.equal(asked.status, c.status, `${what}: forward-auth ${c.status}`);
      if (c.status === 200) {
        t.same(identityOf(asked.headers), proxied.identity, `${what}: the identity headers the proxy sends`);
        t.equal(asked.body, "", "no body");
        if (shape.name === "envoy")
          t.same(
            removals(asked.headers),
            [...IDENTITY.filter((n) => asked.headers[n] === undefined), ...SIGNED].sort(),
            `${what}: Envoy removes every identity header it does not set`,
          );
        else t.equal(asked.headers["x-envoy-auth-headers-to-remove"], undefined, "only for Envoy");
      } else {
        t.equal(JSON.parse(asked.body).error, c.error, `${what}: ${c.error}`);
      }
    }
  }
});

t.test("an allowed caller's identity headers and log line", async (t) => {
  const token = issuer.token({
    "cognito:groups": ["admin"],
    email: "a@example.com",
    "custom:tenant": "acme",
  });
  const r = await askNginxShape(
    app.url,
    { name: "", method: "GET", host: "api.example.com", target: "/orders/1", status: 200 },
    token,
  );
  t.equal(r.status, 200);
  t.match(r.headers, {
    "x-auth-request-user": "user-1",
    "x-auth-request-email": "a@example.com",
    "x-auth-request-groups": "admin",
    "x-tenant": "acme",
    "cache-control": "no-store",
  });
  t.match(
    app.logs.findLast((l) => l.forwardAuth === true),
    {
      msg: "forward-auth allowed",
      route: "orders",
      method: "GET",
      path: "/orders/1",
      status: 200,
      sub: "user-1",
    },
  );
  t.notOk(app.logText().includes(token), "the token is never logged");
});

t.test("AWS routes are refused: only the proxy can sign their requests", async (t) => {
  const c = { name: "", method: "GET", host: "a.example", target: "/files/x", status: 403 };
  const r = await askNginxShape(app.url, c, issuer.token({ token_use: "id", aud: "test-client" }));
  t.equal(r.status, 403);
  t.equal(JSON.parse(r.body).error, "access_denied");
  t.match(
    app.logs.findLast((l) => l.forwardAuth === true),
    { reason: "aws_route", route: "files" },
  );
});

t.test("malformed descriptions are 400; the endpoint's own query is ignored", async (t) => {
  const c = { name: "", method: "GET", host: "a.example", target: "/public/x", status: 200 };
  t.equal((await askNginxShape(app.url, c, undefined, { "x-original-method": "get" })).status, 400);
  const noUrl = await request(`${app.url}/_cupbearer/auth`, { headers: { "x-original-method": "GET" } });
  t.equal(noUrl.statusCode, 400);
  t.equal(JSON.parse(await noUrl.body.text()).error, "bad_request");
  // The Traefik shape is a client's header on an nginx endpoint: never read.
  const traefik = await request(`${app.url}/_cupbearer/auth`, {
    headers: { "x-forwarded-method": "GET", "x-forwarded-host": "a.example", "x-forwarded-uri": "/public/x" },
  });
  t.equal(traefik.statusCode, 400);
  await traefik.body.text();
  const withQuery = await request(`${app.url}/_cupbearer/auth?rd=x`, {
    headers: { "x-original-url": "http://a.example/public/x", "x-original-method": "GET" },
  });
  t.equal(withQuery.statusCode, 200);
  await withQuery.body.text();
});

t.test("untrusted sources are refused; Traefik's shape on the admin listener", async (t) => {
  const other = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
forwardAuth: { ingress: traefik, listener: admin, path: /auth, trustedSources: [127.0.0.1] }
routes:
${routesYaml(up.url)}
`);
  t.teardown(() => other.stop());
  await waitReady(other.adminUrl);
  const token = issuer.token({ "cognito:groups": ["admin"] });
  const ask = (base: string, headers: Record<string, string>) =>
    request(`${base}/auth`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "x-forwarded-method": "GET",
        "x-forwarded-host": "api.example.com",
        "x-forwarded-uri": "/orders/1",
        ...headers,
      },
    });
  const ok = await ask(other.adminUrl, {});
  t.equal(ok.statusCode, 200, "asked on the admin listener (any method: Traefik sends GET, others may not)");
  t.equal(ok.headers["x-auth-request-groups"], "admin");
  await ok.body.text();
  const spoof = await ask(other.adminUrl, {
    "x-original-url": "https://api.example.com/public/x",
    "x-forwarded-uri": "/team",
  });
  t.equal(spoof.statusCode, 404, "the client's X-Original-URL is not read: /team matches no route");
  await spoof.body.text();
  const onMain = await ask(other.url, {});
  t.equal(onMain.statusCode, 404, "not served on the main listener: /auth is an ordinary request there");
  await onMain.body.text();
  const health = await request(`${other.adminUrl}/healthz`);
  t.equal(health.statusCode, 200, "the admin listener's own paths still answer");
  await health.body.text();

  const strict = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
forwardAuth: { ingress: traefik, trustedSources: [10.0.0.0/8, "fd00::/8"] }
routes:
${routesYaml(up.url)}
`);
  t.teardown(() => strict.stop());
  await waitReady(strict.adminUrl);
  const before = up.requests.length;
  const refused = await request(`${strict.url}/_cupbearer/auth`, {
    headers: {
      authorization: `Bearer ${token}`,
      "x-forwarded-method": "GET",
      "x-forwarded-host": "api.example.com",
      "x-forwarded-uri": "/orders/1",
    },
  });
  t.equal(refused.statusCode, 403);
  t.equal(JSON.parse(await refused.body.text()).error, "access_denied");
  t.match(
    strict.logs.findLast((l) => l.forwardAuth === true),
    { reason: "untrusted_source", route: "none" },
  );
  t.equal(up.requests.length, before, "nothing forwarded");
  const metrics = await (await fetch(`${strict.adminUrl}/metrics`)).text();
  t.match(metrics, /cupbearer_auth_failures_total\{route="none",reason="untrusted_source"\} 1/);
});

t.test("the route's rate limit: the proxy's budget, the proxy's 429", async (t) => {
  const limited = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
forwardAuth: { ingress: envoy, trustedSources: [127.0.0.1] }
routes:
  - id: api
    match: { pathPrefix: /api }
    upstream: ${up.url}
    rateLimit: { perCaller: { requests: 2, perSeconds: 60 } }
  - id: guest
    match: { pathPrefix: /pub }
    upstream: ${up.url}
    auth: { mode: public }
    rateLimit: { perCaller: { requests: 1, perSeconds: 60 } }
  - id: free
    match: { pathPrefix: /free }
    upstream: ${up.url}
`);
  t.teardown(() => limited.stop());
  await waitReady(limited.adminUrl);
  const alice = issuer.token({ sub: "alice" });
  const ask = (target: string, token?: string) =>
    askEnvoyShape(limited.url, { name: "", method: "GET", host: "a.example", target, status: 0 }, token);
  const before = up.requests.length;
  t.equal((await ask("/api/1", alice)).status, 200);
  t.equal((await ask("/api/2", alice)).status, 200);
  const over = await ask("/api/3", alice);
  t.equal(over.status, 429, "the third in a minute is refused");
  t.equal(over.headers["retry-after"], "30", "with the proxy's Retry-After");
  t.equal(JSON.parse(over.body).error, "too_many_requests");
  const proxied = await fetch(`${limited.url}/api/4`, { headers: { authorization: `Bearer ${alice}` } });
  t.equal(proxied.status, 429, "the proxy and the endpoint share the caller's budget");
  await proxied.text();
  t.equal((await ask("/api/5", issuer.token({ sub: "bob" }))).status, 200, "another caller has their own");
  t.equal((await ask("/api/6", "not-a-token")).status, 401, "the token is judged first");
  t.equal((await ask("/free/x", alice)).status, 200, "a route without a limit is not limited");
  t.equal((await ask("/pub/x")).status, 200, "a guest, by the asker's address");
  t.equal((await ask("/pub/y")).status, 429, "the same address, over the guests' limit");
  t.equal(up.requests.length, before, "nothing forwarded");
  t.match(
    limited.logs.findLast((l) => l.forwardAuth === true),
    { route: "guest", status: 429, reason: "rate_limited" },
  );
  const metrics = await (await fetch(`${limited.adminUrl}/metrics`)).text();
  t.match(metrics, /cupbearer_rate_limited_total\{route="api"\} 2/);
  t.match(metrics, /cupbearer_auth_failures_total\{route="api",reason="rate_limited"\} 2/);
});

t.test("envoy: the token kept from the upstream is removed by Envoy too", async (t) => {
  const kept = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
forwardAuth: { ingress: envoy, listener: admin, path: /ext-authz, trustedSources: [127.0.0.1] }
routes:
  - id: header
    match: { pathPrefix: /h }
    upstream: ${up.url}
    auth: { token: { header: X-Api-Token }, forwardToken: false, claimHeaders: { X-Tenant: "custom:tenant" } }
  - id: public
    match: { pathPrefix: /p }
    upstream: ${up.url}
    auth: { mode: public }
`);
  t.teardown(() => kept.stop());
  await waitReady(kept.adminUrl);
  const ask = async (target: string, headers: Record<string, string>) => {
    const res = await request(`${kept.adminUrl}/ext-authz${target}`, {
      headers: { host: "a.example", "content-length": "0", ...headers },
    });
    await res.body.text();
    return res;
  };
  const ok = await ask("/h/1", { "x-api-token": issuer.token({ "custom:tenant": "acme" }) });
  t.equal(ok.statusCode, 200, "on the admin listener, under its own prefix");
  t.equal(ok.headers["x-tenant"], "acme");
  t.same(
    removals(ok.headers),
    ["x-api-token", "x-auth-request-email", "x-auth-request-groups", ...SIGNED].sort(),
  );
  const pub = await ask("/p/1", {});
  t.same(
    removals(pub.headers),
    ["x-auth-request-email", "x-auth-request-groups", "x-auth-request-user", "x-tenant", ...SIGNED].sort(),
    "a public route has no token to remove, and every identity header",
  );
  const noPath = await ask("", {});
  t.equal(noPath.statusCode, 400, "the prefix alone (a path_override) carries no request");
  const health = await request(`${kept.adminUrl}/healthz`);
  t.equal(health.statusCode, 200, "the admin listener's own paths still answer");
  await health.body.text();
});

t.test("the proxy never forwards an ingress's description of a request", async (t) => {
  // What forward-auth reads (and ingresses send their auth services), in every spelling: through
  // the proxy it is a client's claim about another request, so the upstream never sees it.
  const described = [
    ["X-Original-URL", "https://api.example.com/admin"],
    ["X-Original-Method", "DELETE"],
    ["X-Original-URI", "/admin"],
    ["X-Original-Host", "admin.example.com"],
    ["X-Forwarded-Method", "DELETE"],
    ["X-Forwarded-Uri", "/admin"],
    ["X-Original_Method", "DELETE"],
    ["X_Original_URI", "/admin"],
    ["X_Forwarded_Uri", "/admin"],
  ];
  for (const target of ["/public/x", `/orders/1`]) {
    const before = up.requests.length;
    const token = issuer.token({ "cognito:groups": ["admin"] });
    const res = await rawRequest(
      app.url,
      `GET ${target} HTTP/1.1\nHost: api.example.com\nAuthorization: Bearer ${token}\n${described
        .map(([n, v]) => `${n}: ${v}\n`)
        .join("")}Connection: close\n`,
    );
    t.equal(res.status, 200, target);
    const seen = up.requests.slice(before);
    t.equal(seen.length, 1);
    const names = (seen[0]?.rawHeaders ?? []).filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    t.same(
      names.filter((n) => /^x[-_](original|forwarded)[-_](url|uri|method|host)$/.test(n)),
      ["x-forwarded-host"],
      `${target}: only the X-Forwarded-Host cupbearer writes itself`,
    );
    t.equal(seen[0]?.headers["x-forwarded-host"], "api.example.com");
  }
});
