/**
 * CORS on the wire: preflights answered by cupbearer without a token and never forwarded, the
 * allow headers on real answers for listed origins only, routes without `cors` as before.
 * (test/e2e/cors-browser.test.ts shows a real browser obeying these answers.)
 */
import t from "tap";
import { request } from "undici";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";

const APP = "https://app.example.com";
let issuer: TestIssuer;
let up: RecordingUpstream;
let app: RunningApp;

t.before(async () => {
  issuer = await startIssuer();
  up = await startUpstream();
  app = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
routes:
  - id: api
    match: { pathPrefix: /api, methods: [GET, PUT] }
    upstream: ${up.url}
    cors:
      allowOrigins: [${APP}, "http://127.0.0.1:5173"]
      allowMethods: [GET, PUT]
      allowHeaders: [Authorization, Content-Type]
      exposeHeaders: [X-Upstream]
      allowCredentials: true
      maxAgeSeconds: 120
  - id: api-options
    match: { pathPrefix: /api }
    upstream: ${up.url}
  - id: plain
    match: { pathPrefix: /plain }
    upstream: ${up.url}
`);
  await waitReady(app.adminUrl);
});
t.teardown(async () => {
  await app.stop();
  await Promise.all([up.close(), issuer.close()]);
});

async function send(method: string, path: string, headers: Record<string, string>) {
  const res = await request(`${app.url}${path}`, { method: method as "GET", headers });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}

function preflightOf(origin: string, method: string, headers?: string): Record<string, string> {
  const h: Record<string, string> = { origin, "access-control-request-method": method };
  if (headers !== undefined) h["access-control-request-headers"] = headers;
  return h;
}

t.test(
  "a preflight from a listed origin: 204 with the allow headers, no token, never forwarded",
  async (t) => {
    const before = up.requests.length;
    // The route takes GET and PUT only: the preflight is matched with the method it asks about.
    const r = await send("OPTIONS", "/api/orders/1", preflightOf(APP, "PUT", "authorization,content-type"));
    t.equal(r.status, 204);
    t.equal(r.body, "");
    t.equal(r.headers["access-control-allow-origin"], APP);
    t.equal(r.headers["access-control-allow-methods"], "GET, PUT");
    t.equal(r.headers["access-control-allow-headers"], "Authorization, Content-Type");
    t.equal(r.headers["access-control-allow-credentials"], "true");
    t.equal(r.headers["access-control-max-age"], "120");
    t.equal(r.headers.vary, "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    t.match(r.headers["x-request-id"], /.{8,}/);
    t.equal(up.requests.length, before, "the upstream never saw it");
    const line = app.logs.findLast((l) => l.msg === "request");
    t.match(line, { route: "api", method: "OPTIONS", status: 204 }, "logged on its route");
  },
);

t.test("refused preflights: 403, never forwarded", async (t) => {
  const before = up.requests.length;
  const unlisted = await send("OPTIONS", "/api/x", preflightOf("https://evil.example", "GET"));
  t.equal(unlisted.status, 403);
  t.equal(
    unlisted.headers["access-control-allow-origin"],
    undefined,
    "no allow header for an unlisted origin",
  );
  t.equal(unlisted.headers.vary, "Origin");
  t.equal(JSON.parse(unlisted.body).error, "access_denied");
  t.match(
    app.logs.findLast((l) => l.msg === "request refused"),
    { reason: "cors_origin", route: "api" },
  );

  const method = await send("OPTIONS", "/api/x", preflightOf(APP, "PATCH"));
  // PATCH matches no route with cors (api takes GET and PUT): an ordinary OPTIONS, which needs a token.
  t.equal(method.status, 401, "a method the cors route does not match: the next route's answer");

  const header = await send("OPTIONS", "/api/x", preflightOf(APP, "GET", "authorization, x-secret"));
  t.equal(header.status, 403);
  t.match(
    app.logs.findLast((l) => l.msg === "request refused"),
    { reason: "cors_headers" },
  );
  t.equal(header.headers["access-control-allow-origin"], APP, "a listed origin may read why");

  const path = await send("OPTIONS", "/api/a%2Fb", preflightOf(APP, "GET"));
  t.equal(path.status, 400, "an ambiguous path is refused as on any request");
  t.equal(up.requests.length, before, "the upstream never saw any of them");
});

t.test("routes without cors keep today's behaviour", async (t) => {
  const before = up.requests.length;
  const r = await send("OPTIONS", "/plain/x", preflightOf(APP, "GET"));
  t.equal(r.status, 401, "a preflight without a token is refused");
  t.equal(r.headers["access-control-allow-origin"], undefined);
  t.equal(r.headers.vary, undefined);
  const nowhere = await send("OPTIONS", "/nowhere", preflightOf(APP, "GET"));
  t.equal(nowhere.status, 404, "a preflight no route matches: no route, as before");
  up.handler = (_req, res) => res.writeHead(200, { "access-control-allow-origin": "*" }).end("ok");
  t.teardown(() => {
    up.handler = undefined;
  });
  const call = await send("GET", "/plain/x", { origin: APP, authorization: `Bearer ${issuer.token()}` });
  t.equal(call.status, 200);
  t.equal(call.headers["access-control-allow-origin"], "*", "the upstream's own CORS headers pass untouched");
  t.equal(up.requests.length, before + 1);
});

t.test("an OPTIONS that is no preflight goes through the pipeline", async (t) => {
  const before = up.requests.length;
  const anonymous = await send("OPTIONS", "/api/x", { origin: APP });
  t.equal(anonymous.status, 401);
  const r = await send("OPTIONS", "/api/x", { origin: APP, authorization: `Bearer ${issuer.token()}` });
  t.equal(r.status, 200);
  t.equal(up.requests.length, before + 1);
  t.equal(up.requests.at(-1)?.method, "OPTIONS", "forwarded");
});

t.test("answers carry the allow headers for listed origins only, always with Vary: Origin", async (t) => {
  up.handler = (_req, res) =>
    res
      .writeHead(200, {
        "x-upstream": "yes",
        vary: "Accept-Encoding",
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "DELETE",
      })
      .end("ok");
  t.teardown(() => {
    up.handler = undefined;
  });
  const token = issuer.token();
  const listed = await send("GET", "/api/x", { origin: APP, authorization: `Bearer ${token}` });
  t.equal(listed.status, 200);
  t.equal(listed.headers["access-control-allow-origin"], APP, "the upstream's * replaced by the origin");
  t.equal(listed.headers["access-control-allow-credentials"], "true");
  t.equal(listed.headers["access-control-expose-headers"], "X-Upstream");
  t.equal(
    listed.headers["access-control-allow-methods"],
    undefined,
    "the upstream's own CORS headers dropped",
  );
  t.equal(listed.headers.vary, "Accept-Encoding, Origin");

  const unlisted = await send("GET", "/api/x", {
    origin: "https://evil.example",
    authorization: `Bearer ${token}`,
  });
  t.equal(unlisted.status, 200, "the server answers; the browser withholds it");
  t.equal(unlisted.headers["access-control-allow-origin"], undefined);
  t.equal(unlisted.headers.vary, "Accept-Encoding, Origin");

  const refused = await send("GET", "/api/x", { origin: APP });
  t.equal(refused.status, 401);
  t.equal(refused.headers["access-control-allow-origin"], APP, "a script may read its 401 and sign in again");
  t.equal(refused.headers.vary, "Origin");
  t.equal(refused.headers["www-authenticate"], 'Bearer realm="cupbearer"');
});
