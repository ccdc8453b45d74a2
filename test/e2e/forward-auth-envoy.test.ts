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
import { startFakeEnvoy } from "../support/fake-envoy.js";
import { IDENTITY, startIngressRig, testThroughIngress } from "../support/ingress-rig.js";

t.setTimeout(180_000);

const rig = await startIngressRig(t, "envoy");
const { issuer, app, cupbearer, send } = rig;

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
  testThroughIngress(t, rig, "Envoy", envoy.url);

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
}
