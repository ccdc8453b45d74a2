/**
 * Browser sign-in in a real Chromium against the hosted-UI emulator: a protected page sends the
 * browser to the pool's login form and back to the deep link, the upstream (a small HTML app)
 * shows the user from the identity headers and never sees the session's cookies or a callback;
 * fetch without a session gets 401; refresh happens without a new login and a refused one ends
 * the session; sign-out revokes and ends at Cognito's /logout; tampered and expired cookies, a
 * wrong state and open redirects are refused; key rotation keeps sessions; bearer tokens still
 * work on the same route.
 */
import { request } from "node:http";
import type { BrowserContext, Page } from "playwright-core";
import t from "tap";
import { Sealer } from "../../src/sessions/seal.js";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { launchBrowser } from "../support/browser.js";
import { startHostedUi } from "../support/hosted-ui.js";
import { startUpstream } from "../support/upstream.js";

t.setTimeout(180_000);

const KEY_A = "key-a-0123456789abcdef0123456789abcdef";
const KEY_B = "key-b-0123456789abcdef0123456789abcdef";
const COOKIE = "__Host-cupbearer";

const browser = await launchBrowser(t);

if (browser) {
  const context: BrowserContext = browser;
  const [ui, up] = await Promise.all([
    startHostedUi({
      client: { clientSecret: "s3cret-of-the-client", callbackUrls: [], logoutUrls: [] },
      users: { alice: { password: "Passw0rd!", email: "alice@example.com", groups: ["staff"] } },
    }),
    startUpstream(),
  ]);
  t.teardown(() => Promise.all([ui.close(), up.close()]));
  // The app: an HTML page naming the user cupbearer vouches for, JSON under /api.
  up.handler = (req, res) => {
    const user = req.headers["x-auth-request-email"] ?? "anonymous";
    if (req.url.startsWith("/api")) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ user }));
      return;
    }
    res
      .writeHead(200, { "content-type": "text/html" })
      .end(`<!doctype html><title>app</title><h1 id="user">${user}</h1><p id="path">${req.url}</p>`);
  };
  const logoutUri = `${up.url}/signed-out`;
  ui.client.logoutUrls.push(logoutUri);

  async function start(keys: string[]): Promise<RunningApp> {
    const app = await startApp(`
issuers:
  - { id: pool, issuer: ${ui.issuer}, jwksUri: ${ui.jwksUri}, clientIds: [${ui.client.clientId}] }
sessions:
  issuer: pool
  clientId: ${ui.client.clientId}
  clientSecret: s3cret-of-the-client
  logoutUri: ${logoutUri}
  cookie: { keys: [${keys.join(", ")}] }
routes:
  - id: app
    upstream: ${up.url}
    auth: { mode: authenticate, groups: [staff] }
`);
    t.teardown(() => app.stop());
    await waitReady(app.adminUrl, 20_000);
    ui.client.callbackUrls.push(`${app.url}/oauth2/callback`);
    return app;
  }

  const app = await start([KEY_A]);
  const page: Page = await context.newPage();

  async function logIn(password = "Passw0rd!"): Promise<void> {
    await page.waitForURL(`${ui.origin}/login?**`);
    await page.fill("#username", "alice");
    await page.fill("#password", password);
    await page.click("#signin");
  }

  /** Makes sure the browser holds a session on `at`, signing in when it does not: each case
   * stands on its own rather than on the cookies an earlier case left behind. */
  async function signedIn(at: RunningApp = app): Promise<void> {
    await page.goto(`${at.url}/home`);
    if (page.url().startsWith(`${ui.origin}/login?`)) {
      await logIn();
      await page.waitForURL(`${at.url}/home`);
    }
  }

  async function sessionCookie() {
    return (await context.cookies(app.url)).find((c) => c.name === COOKIE);
  }

  await t.test("protected page → login form → the deep link, with the user's name", async (t) => {
    const forms = ui.loginForms;
    await page.goto(`${app.url}/reports/q3?year=2026`);
    t.match(page.url(), `${ui.origin}/login?`, "sent to the pool's login form");
    await logIn();
    await page.waitForURL(`${app.url}/reports/q3?year=2026`);
    t.equal(await page.textContent("#user"), "alice@example.com");
    t.equal(await page.textContent("#path"), "/reports/q3?year=2026", "the deep link is kept");
    t.equal(ui.loginForms, forms + 1);
    const cookie = await sessionCookie();
    t.ok(cookie, "the session cookie is set");
    t.match(cookie, { httpOnly: true, secure: true, sameSite: "Lax", path: "/" });
    // The upstream saw the identity, but neither the session's cookies nor the callback.
    for (const r of up.requests) {
      t.notMatch(r.headers.cookie ?? "", /__Host-cupbearer/, "no session cookie upstream");
      t.notMatch(r.url, /oauth2/, "no callback upstream");
    }
    t.notMatch(app.logText(), new RegExp(cookie?.value.slice(2, 40) ?? "x"), "the cookie is never logged");
  });

  await t.test("fetch and XHR get 401 without a session, the page with one", async (t) => {
    await signedIn();
    const call = () =>
      page.evaluate(async () => {
        const res = await fetch("/api/me");
        return { status: res.status, body: await res.text() };
      });
    const withSession = await call();
    t.equal(withSession.status, 200);
    t.same(JSON.parse(withSession.body), { user: "alice@example.com" });
    await context.clearCookies();
    const without = await call();
    t.equal(without.status, 401, "a fetch is never redirected to sign in");
    // A string: the test's TypeScript has no DOM types.
    const xhr = await page.evaluate(`new Promise((resolve) => {
      const r = new XMLHttpRequest();
      r.open("GET", "/api/me");
      r.onload = () => resolve(r.status);
      r.send();
    })`);
    t.equal(xhr, 401);
  });

  await t.test("a bearer token works on the same route, and wins over a session", async (t) => {
    await signedIn();
    const token = ui.idToken("alice");
    const res = await fetch(`${app.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
    t.equal(res.status, 200);
    t.same(await res.json(), { user: "alice@example.com" });
    const cookie = await sessionCookie();
    const bad = await fetch(`${app.url}/api/x`, {
      headers: { authorization: "Bearer a.b.c", cookie: `${COOKIE}=${cookie?.value}` },
    });
    t.equal(bad.status, 401, "the (bad) bearer token decides, not the session");
  });

  await t.test("a wrong state or a missing sign-in cookie on the callback is refused", async (t) => {
    const seen = up.requests.length;
    const res = await page.goto(`${app.url}/oauth2/callback?code=x&state=forged`);
    t.equal(res?.status(), 400, "no sign-in cookie");
    await context.clearCookies();
    await page.goto(`${app.url}/private`);
    t.match(page.url(), `${ui.origin}/login?`);
    // The browser now holds a sign-in cookie; a forged state still fails.
    const forged = await page.goto(`${app.url}/oauth2/callback?code=x&state=forged`);
    t.equal(forged?.status(), 400, "a state that is not the sign-in's");
    t.notOk(
      up.requests.slice(seen).some((r) => r.url.includes("oauth2")),
      "the upstream never saw a callback",
    );
  });

  await t.test("open redirects: the return path stays on this origin", async (t) => {
    for (const target of ["//evil.example/x", "/\\evil.example/x", "/%0d%0aLocation:%20http://evil"]) {
      const answer = await new Promise<{ status: number; location: string | undefined }>(
        (resolve, reject) => {
          const req = request(`${app.url}/`, { path: target, headers: { accept: "text/html" } }, (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, location: res.headers.location });
          });
          req.on("error", reject);
          req.end();
        },
      );
      if (answer.status === 302) {
        t.ok(answer.location?.startsWith(`${ui.origin}/oauth2/authorize?`), `${target}: only to the pool`);
      } else {
        t.equal(answer.status, 400, `${target}: refused`);
      }
    }
  });

  await t.test("tampered, truncated or expired cookies start a new sign-in", async (t) => {
    await signedIn();
    const cookie = await sessionCookie();
    if (cookie === undefined) throw new Error("no session");
    const v = cookie.value;
    const sealer = new Sealer([KEY_A]);
    const expired = `1.${sealer.seal("session", { i: "a.b.c", a: "x", t: 1 }, Date.now() / 1000 - 5)}`;
    for (const [what, value] of [
      ["tampered", `${v.slice(0, 20)}${v[20] === "A" ? "B" : "A"}${v.slice(21)}`],
      ["truncated", v.slice(0, v.length - 10)],
      ["expired", expired],
    ] as const) {
      await context.addCookies([{ ...cookie, value }]);
      await page.goto(`${app.url}/again`);
      t.match(page.url(), `${ui.origin}/login?`, `${what}: sign in again`);
    }
    await logIn();
    await page.waitForURL(`${app.url}/again`);
    t.equal(await page.textContent("#user"), "alice@example.com");
  });

  await t.test("key rotation: a new first key keeps sessions; dropping the old key ends them", async (t) => {
    await signedIn();
    const rotated = await start([KEY_B, KEY_A]);
    await page.goto(`${rotated.url}/rotated`);
    t.equal(await page.textContent("#user"), "alice@example.com", "no new sign-in");
    const dropped = await start([KEY_B]);
    await page.goto(`${dropped.url}/dropped`);
    t.match(page.url(), `${ui.origin}/login?`);
    await logIn();
    await page.waitForURL(`${dropped.url}/dropped`);
    await rotated.stop();
    await dropped.stop();
    // Back on the first app (key A only), the key-B cookie is no session.
    await page.goto(`${app.url}/back`);
    t.match(page.url(), `${ui.origin}/login?`);
    await logIn();
    await page.waitForURL(`${app.url}/back`);
  });

  await t.test("refresh after expiry without a new login; a refused refresh ends the session", async (t) => {
    // Tokens that live 61 s against the default 60 s refresh window: due at once.
    ui.tokenSeconds = 61;
    await context.clearCookies();
    await page.goto(`${app.url}/short`);
    await logIn();
    await page.waitForURL(`${app.url}/short`);
    const forms = ui.loginForms;
    const before = await sessionCookie();
    await new Promise((r) => setTimeout(r, 1100));
    await page.goto(`${app.url}/refreshed`);
    t.equal(await page.textContent("#user"), "alice@example.com");
    t.equal(ui.loginForms, forms, "no login form");
    t.ok(ui.tokenCalls.includes("refresh_token:ok"), "the refresh token was used");
    t.not((await sessionCookie())?.value, before?.value, "a new session cookie");
    // The pool refuses the next refresh (the refresh token is revoked): sign in again.
    const out = await fetch(`${app.url}/oauth2/sign_out`, {
      headers: { cookie: (await context.cookies(app.url)).map((c) => `${c.name}=${c.value}`).join("; ") },
      redirect: "manual",
    });
    t.equal(out.status, 302);
    await new Promise((r) => setTimeout(r, 1100));
    await page.goto(`${app.url}/after-refusal`);
    t.match(page.url(), `${ui.origin}/login?`, "sign in again");
    t.ok(ui.tokenCalls.includes("refresh_token:invalid_grant"));
    ui.tokenSeconds = 3600;
    await logIn();
    await page.waitForURL(`${app.url}/after-refusal`);
  });

  await t.test("sign-out: cookie gone, refresh token revoked, Cognito's logout", async (t) => {
    await signedIn();
    const revoked = ui.revoked.length;
    await page.goto(`${app.url}/oauth2/sign_out`);
    await page.waitForURL(logoutUri);
    t.same(ui.logouts.at(-1), logoutUri, "through the pool's /logout");
    t.equal(ui.revoked.length, revoked + 1, "the refresh token is revoked");
    t.equal(await sessionCookie(), undefined, "the cookie is gone");
    await page.goto(`${app.url}/`);
    t.match(page.url(), `${ui.origin}/login?`, "signed out for real");
  });
}
