/**
 * CORS in a real browser: a page on another origin (another port of 127.0.0.1) calls a protected
 * API through cupbearer with an access token of a cognito-local user pool. Chromium sends its own
 * preflight (a PUT with Authorization is not a simple request): cupbearer answers it without a
 * token and the call succeeds; a page on an unlisted origin is blocked by the browser itself; the
 * upstream never sees a preflight.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import t from "tap";
import { seedPool } from "../../demo/cognito-emulator.js";
import { startApp, waitReady } from "../support/app.js";
import { launchBrowser } from "../support/browser.js";
import { sharedCognitoLocal } from "../support/shared.js";
import { startUpstream } from "../support/upstream.js";

t.setTimeout(180_000);

/** A page server: its origin is what the browser sends as `Origin`. */
async function pageServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>spa</title><p>spa</p>");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const emulator = await sharedCognitoLocal(t);
const browser = emulator && (await launchBrowser(t));

if (emulator && browser) {
  const context = browser;
  const pool = await seedPool(emulator.endpoint, {
    poolName: "cupbearer-cors",
    users: [{ username: "alice", password: "Passw0rd!", email: "alice@example.com" }],
  });
  const { accessToken } = await pool.signIn("alice", "Passw0rd!");
  const [listed, unlisted, up] = await Promise.all([pageServer(), pageServer(), startUpstream()]);
  t.teardown(() => Promise.all([listed.close(), unlisted.close(), up.close()]));
  up.handler = (req, res) =>
    res
      .writeHead(200, { "content-type": "application/json", "x-upstream": "yes" })
      .end(JSON.stringify({ method: req.method, user: req.headers["x-auth-request-user"], body: req.body }));
  const app = await startApp(`
issuers:
  - { id: pool, issuer: ${pool.issuer}, jwksUri: ${pool.jwksUri}, clientIds: [${pool.clientId}] }
routes:
  - id: api
    match: { pathPrefix: /api }
    upstream: ${up.url}
    auth: { tokenUse: access }
    cors:
      allowOrigins: [${listed.origin}]
      allowHeaders: [Authorization, Content-Type]
      exposeHeaders: [X-Upstream]
`);
  t.teardown(() => app.stop());
  await waitReady(app.adminUrl, 20_000);

  /** Runs fetch in a page of `origin` and reports what the page's script could see. */
  async function callFrom(origin: string) {
    const page = await context.newPage();
    try {
      await page.goto(`${origin}/`);
      return await page.evaluate(
        async ({ url, token }) => {
          try {
            const res = await fetch(url, {
              method: "PUT",
              headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
              body: JSON.stringify({ item: 1 }),
            });
            return {
              ok: true as const,
              status: res.status,
              upstreamHeader: res.headers.get("x-upstream"),
              body: (await res.json()) as { method: string; user: string; body: string },
            };
          } catch (err) {
            return { ok: false as const, error: String(err) };
          }
        },
        { url: `${app.url}/api/orders/1`, token: accessToken },
      );
    } finally {
      await page.close();
    }
  }

  t.test("a listed origin: the browser's preflight passes without a token, the call succeeds", async (t) => {
    const before = up.requests.length;
    const r = await callFrom(listed.origin);
    t.same(r.ok && { status: r.status, header: r.upstreamHeader, method: r.body.method, body: r.body.body }, {
      status: 200,
      header: "yes",
      method: "PUT",
      body: JSON.stringify({ item: 1 }),
    });
    t.ok(r.ok && r.body.user !== undefined && r.body.user !== "", "the upstream saw alice's identity");
    const seen = up.requests.slice(before);
    t.same(
      seen.map((q) => q.method),
      ["PUT"],
      "the upstream saw the call and no preflight",
    );
    t.equal(seen[0]?.headers.origin, listed.origin);
    const preflights = app.logs.filter((l) => l.method === "OPTIONS" && l.route === "api");
    t.equal(preflights.length, 1, "the browser did send a preflight");
    t.match(preflights[0], { status: 204, msg: "request" }, "answered by cupbearer");
    t.equal(preflights[0]?.sub, undefined, "with no caller: the preflight carried no token");
  });

  t.test("an unlisted origin is blocked by the browser", async (t) => {
    const before = up.requests.length;
    const r = await callFrom(unlisted.origin);
    t.same(r, { ok: false, error: "TypeError: Failed to fetch" }, "the script sees only a network error");
    t.equal(up.requests.length, before, "the upstream saw nothing");
    t.match(
      app.logs.findLast((l) => l.method === "OPTIONS"),
      { status: 403, reason: "cors_origin" },
    );
  });
}
