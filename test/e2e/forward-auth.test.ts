/**
 * The forward-auth endpoint asked directly, as an ingress would: the same decisions as the proxy
 * for the same table of requests (it runs the proxy's own `authorize`), identity headers in its
 * 200, each ingress's header shape, trusted sources only, both listeners. The nginx test
 * (forward-auth-nginx.test.ts) puts a real ingress in front.
 */
import t from "tap";
import { request } from "undici";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { type DecisionCase, decisionCases, routesYaml } from "../support/forward-auth-table.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";

let issuer: TestIssuer;
let up: RecordingUpstream;
let app: RunningApp;

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
});
t.teardown(async () => {
  await app.stop();
  await Promise.all([up.close(), issuer.close()]);
});

const IDENTITY = ["x-auth-request-user", "x-auth-request-email", "x-auth-request-groups", "x-tenant"];
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

t.test("the same decisions as the proxy, for the same table of requests", async (t) => {
  for (const c of decisionCases(issuer)) {
    const token = c.token?.();
    const before = up.requests.length;
    const asked = await askNginxShape(app.url, c, token);
    t.equal(up.requests.length, before, `${c.name}: forward-auth forwards nothing`);
    const proxied = await viaProxy(c, token);
    t.equal(asked.status, c.status, `${c.name}: forward-auth ${c.status}`);
    t.equal(proxied.status, c.status, `${c.name}: proxy ${c.status}`);
    if (c.status === 200) {
      t.same(identityOf(asked.headers), proxied.identity, `${c.name}: the identity headers the proxy sends`);
      t.equal(asked.body, "", "no body");
    } else {
      t.equal(JSON.parse(asked.body).error, c.error, `${c.name}: ${c.error}`);
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
