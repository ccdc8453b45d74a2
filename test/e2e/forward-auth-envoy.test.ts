/**
 * Forward-auth in Envoy's shape: cupbearer (`ingress: envoy`) as the HTTP service of Envoy's
 * ext_authz filter. Envoy itself cannot run here (no Debian package, no download), so a
 * protocol-level Envoy (test/support/fake-envoy.ts) sends exactly the check requests Envoy's
 * documentation and HTTP client describe, and applies the answers the same way, including
 * `x-envoy-auth-headers-to-remove`. The app gets the requests and identity headers the proxy
 * would have given it, for the same table of requests; refusals never reach it. Real users of
 * cognito-local get through with their own identity. deploy/forward-auth/envoy/envoy.yaml is the
 * real Envoy's config of the same set-up.
 */
import t from "tap";
import { request } from "undici";
import { type SeededPool, seedPool } from "../../demo/cognito-emulator.js";
import { startApp, waitReady } from "../support/app.js";
import { startFakeEnvoy } from "../support/fake-envoy.js";
import { decisionCases, routesYaml } from "../support/forward-auth-table.js";
import { startIssuer } from "../support/issuer.js";
import { sharedCognitoLocal } from "../support/shared.js";
import { startUpstream } from "../support/upstream.js";

t.setTimeout(180_000);

const IDENTITY = ["X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups", "X-Tenant"];
const identityOf = (h: Record<string, string | string[] | undefined>) =>
  Object.fromEntries(
    IDENTITY.map((n) => n.toLowerCase())
      .filter((n) => h[n] !== undefined)
      .map((n) => [n, h[n]]),
  );

const PASSWORD = "Passw0rd!";
const ANN = {
  username: "ann",
  password: PASSWORD,
  email: "ann@example.com",
  groups: ["admin"],
  attributes: { "custom:tenant": "acme" },
};
const BOB = { username: "bob", password: PASSWORD, groups: ["staff"] };

const [issuer, app, emulator] = await Promise.all([startIssuer(), startUpstream(), sharedCognitoLocal(t)]);
t.teardown(() => Promise.all([issuer.close(), app.close()]));
const pool: SeededPool | undefined =
  emulator === undefined
    ? undefined
    : await seedPool(emulator.endpoint, { poolName: "forward-auth-envoy", users: [ANN, BOB] });
const poolIssuer =
  pool === undefined
    ? ""
    : `  - { id: pool, issuer: ${pool.issuer}, jwksUri: ${pool.jwksUri}, clientIds: [${pool.clientId}] }`;
const cupbearer = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
${poolIssuer}
forwardAuth: { ingress: envoy, trustedSources: [127.0.0.1/32] }
routes:
${routesYaml(app.url, pool === undefined ? undefined : ["local", "pool"])}
`);
t.teardown(() => cupbearer.stop());
await waitReady(cupbearer.adminUrl);

// As deploy/forward-auth/envoy/envoy.yaml: the identity headers allowed upstream, the cookie
// allowed to the check (a token may travel in one), path_prefix = forwardAuth.path.
const envoy = await startFakeEnvoy({
  authz: cupbearer.url,
  pathPrefix: "/_cupbearer/auth",
  allowedHeaders: ["cookie"],
  allowedUpstreamHeaders: IDENTITY,
  upstream: app.url,
  timeoutMs: 2_000,
});
t.teardown(() => envoy.close());

{
  const ingress = envoy;
  async function send(
    base: string,
    c: { method: string; host: string; target: string },
    headers: Record<string, string>,
  ) {
    const before = app.requests.length;
    const res = await request(`${base}${c.target}`, {
      method: c.method as "GET",
      headers: { host: c.host, ...headers },
    });
    const body = await res.body.text();
    const seen = app.requests.slice(before);
    return { status: res.statusCode, headers: res.headers, body, seen };
  }

  t.test("Envoy in front: the proxy's decisions, the proxy's identity headers", async (t) => {
    for (const c of decisionCases(issuer)) {
      const token = c.token?.();
      const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
      const direct = await send(cupbearer.url, c, auth);
      t.equal(direct.status, c.status, `${c.name}: the proxy says ${c.status}`);
      const via = await send(ingress.url, c, auth);
      t.equal(via.status, c.status, `${c.name}: ${c.status} through Envoy`);
      if (c.status === 200) {
        t.equal(via.seen.length, 1, "the app got it");
        t.same(
          identityOf(via.seen[0]?.headers ?? {}),
          identityOf(direct.seen[0]?.headers ?? {}),
          "the same identity headers",
        );
      } else {
        // Envoy answers the client with cupbearer's answer (none of the table's is a 5xx).
        t.same(via.seen, [], "the app saw nothing");
        t.equal(JSON.parse(via.body).error, c.error, `${c.name}: ${c.error}`);
        t.equal(
          via.headers["www-authenticate"],
          direct.headers["www-authenticate"],
          "the challenge reaches the client",
        );
      }
    }
  });

  t.test("identity headers a client sends never reach the app", async (t) => {
    const token = issuer.token({ "cognito:groups": ["admin"] }); // no email, no tenant
    const spoofed = {
      "x-auth-request-user": "root",
      "x-auth-request-email": "root@example.com",
      "x-tenant": "globex",
    };
    const via = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/orders/1" },
      { authorization: `Bearer ${token}`, ...spoofed },
    );
    t.equal(via.status, 200);
    t.same(identityOf(via.seen[0]?.headers ?? {}), {
      "x-auth-request-user": "user-1",
      "x-auth-request-groups": "admin",
    });
    const anonymous = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/public/x" },
      spoofed,
    );
    t.equal(anonymous.status, 200);
    t.same(identityOf(anonymous.seen[0]?.headers ?? {}), {}, "an anonymous caller has none");
  });

  t.test("a client cannot describe another request: the check path is its own path", async (t) => {
    const via = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/orders/1" },
      {
        "x-original-url": "https://api.example.com/public/x",
        "x-original-method": "GET",
        "x-forwarded-uri": "/public/x",
        "x-forwarded-method": "GET",
      },
    );
    t.equal(via.status, 401, "no header is read: the request is /orders/1");
    t.same(via.seen, []);
    t.match(
      cupbearer.logs.findLast((l) => l.forwardAuth === true),
      { path: "/orders/1", reason: "missing" },
    );
    const check = envoy.checks.at(-1);
    t.equal(check?.path, "/_cupbearer/auth/orders/1", "Envoy's check: path_prefix + the path");
    t.notOk(check?.headers["x-original-url"], "and only the allowed headers");
    const nested = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/_cupbearer/auth/public/x" },
      {},
    );
    t.equal(nested.status, 404, "a client's own prefix is just part of its path");
    t.same(nested.seen, []);
  });

  t.test("a token in the query: read from the path Envoy sends, left in place", async (t) => {
    const token = issuer.token({ sub: "q-user" });
    const via = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: `/q/x?access_token=${token}` },
      { cookie: "a=1" },
    );
    t.equal(via.status, 200, "the query token is read from the path Envoy sends");
    t.equal(via.seen[0]?.headers["x-auth-request-user"], "q-user");
    t.equal(via.seen[0]?.headers.cookie, "a=1", "allowed headers pass to the check and on");
    // Documented: only a header token can be removed (x-envoy-auth-headers-to-remove); the
    // proxy strips a query or cookie token (forwardToken: false), an ingress does not.
    t.match(via.seen[0]?.url, /access_token=/, "the ingress forwards the query as it came");
  });

  t.test("an error of the service is Envoy's 403, never a pass", async (t) => {
    const down = await startFakeEnvoy({
      authz: "http://127.0.0.1:9",
      pathPrefix: "/_cupbearer/auth",
      allowedUpstreamHeaders: IDENTITY,
      upstream: app.url,
    });
    t.teardown(() => down.close());
    const via = await send(down.url, { method: "GET", host: "api.example.com", target: "/public/x" }, {});
    t.equal(via.status, 403);
    t.same(via.seen, []);
  });

  t.test("cognito-local users through Envoy", async (t) => {
    if (pool === undefined) return t.pass("cognito-local not running", { skip: "see the SKIPPED banner" });
    const [ann, bob] = await Promise.all([
      pool.signIn(ANN.username, ANN.password),
      pool.signIn(BOB.username, BOB.password),
    ]);
    const orders = { method: "GET", host: "api.example.com", target: "/orders/7?x=1" };
    const allowed = await send(ingress.url, orders, { authorization: `Bearer ${ann.idToken}` });
    t.equal(allowed.status, 200, "an admin's ID token");
    t.equal(allowed.seen[0]?.url, "/orders/7?x=1", "the app gets the request as sent");
    const sub = JSON.parse(Buffer.from(ann.idToken.split(".")[1] ?? "", "base64url").toString()).sub;
    t.same(identityOf(allowed.seen[0]?.headers ?? {}), {
      "x-auth-request-user": sub,
      "x-auth-request-email": "ann@example.com",
      "x-auth-request-groups": "admin",
      "x-tenant": "acme",
    });
    const staff = await send(ingress.url, orders, { authorization: `Bearer ${bob.accessToken}` });
    t.equal(staff.status, 403, "staff: insufficient_scope");
    t.match(staff.headers["www-authenticate"], /error="insufficient_scope"/);
    t.same(staff.seen, []);
    const me = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/me" },
      { authorization: `Bearer ${bob.accessToken}` },
    );
    t.equal(me.status, 200, "an access token where one is required");
    const idOnMe = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/me" },
      { authorization: `Bearer ${bob.idToken}` },
    );
    t.equal(idOnMe.status, 403, "an ID token where access is required");
    const none = await send(ingress.url, orders, {});
    t.equal(none.status, 401);
    t.equal(none.headers["www-authenticate"], 'Bearer realm="cupbearer"');
  });
}
