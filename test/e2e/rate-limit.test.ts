/**
 * Per-caller rate limits of one cupbearer without a store (per pod): 429 with Retry-After and
 * the terse body, for requests and WebSocket upgrades alike, counted, and never forwarded.
 */
import t from "tap";
import { startApp, waitReady } from "../support/app.js";
import { startIssuer } from "../support/issuer.js";
import { rawRequest } from "../support/raw.js";
import { startUpstream } from "../support/upstream.js";

t.test("per-pod limits on a single cupbearer", async (t) => {
  const issuer = await startIssuer();
  const up = await startUpstream();
  const app = await startApp(`
issuers:
  - { id: test, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }
routes:
  - id: api
    match: { pathPrefix: /api }
    upstream: "${up.url}"
    rateLimit: { perCaller: { requests: 2, perSeconds: 60 } }
  - id: free
    upstream: "${up.url}"
`);
  await waitReady(app.adminUrl);
  t.teardown(async () => {
    await app.stop();
    await Promise.all([issuer.close(), up.close()]);
  });
  const alice = issuer.token({ sub: "alice" });
  const get = (path: string, token = alice) =>
    fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

  t.equal((await get("/api/1")).status, 200);
  t.equal((await get("/api/2")).status, 200);
  const refused = await get("/api/3");
  t.equal(refused.status, 429);
  t.equal(refused.headers.get("retry-after"), "30", "one request every 30 s: the next fits in 30 s");
  t.equal(refused.headers.get("content-type"), "application/json");
  const body = (await refused.json()) as Record<string, unknown>;
  t.same(
    { error: body.error, message: body.message },
    { error: "too_many_requests", message: "Too many requests; retry later." },
  );
  t.same(
    up.requests.map((r) => r.url),
    ["/api/1", "/api/2"],
    "the refused request never reached the upstream",
  );
  t.equal((await get("/other")).status, 200, "a route without a limit is not limited");
  t.equal(
    (await get("/api/4", issuer.token({ sub: "bob" }))).status,
    200,
    "another caller has its own budget",
  );
  t.equal(
    (await get("/api/5", "not-a-token")).status,
    401,
    "the token is judged first: a bad one is never counted",
  );

  const upgrade = await rawRequest(
    app.url,
    `GET /api/ws HTTP/1.1\nHost: x\nConnection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nAuthorization: Bearer ${alice}\n`,
  );
  t.equal(upgrade.status, 429, "an upgrade over the limit is refused the same way");
  t.equal(upgrade.headers["retry-after"], "30");

  const metrics = await (await fetch(`${app.adminUrl}/metrics`)).text();
  t.match(metrics, /cupbearer_rate_limited_total\{route="api"\} 2/);
  t.match(metrics, /cupbearer_auth_failures_total\{route="api",reason="rate_limited"\} 2/);
  const line = app.logs.find((l) => l.reason === "rate_limited");
  t.equal(line?.status, 429, "the access log names the reason");
});
