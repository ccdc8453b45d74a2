/**
 * Browser sessions over plain HTTP (no browser): the sign-in start endpoint and its return-path
 * check, sessions on optional routes and against route rules, a session whose ID token no longer
 * verifies, a refreshed cookie next to the upstream's own, the session paths' methods, and the
 * forward-auth endpoint (Traefik gets the redirect, nginx a 401; a session passes with identity
 * headers).
 */
import t from "tap";
import { request } from "undici";
import { joinChunks, parseCookies } from "../../src/core/session-rules.js";
import { Sealer } from "../../src/sessions/seal.js";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { startHostedUi } from "../support/hosted-ui.js";
import { startUpstream } from "../support/upstream.js";

const KEY = "0123456789abcdef0123456789abcdef-e2e";
const COOKIE = "__Host-cupbearer";

const [ui, up] = await Promise.all([
  startHostedUi({
    client: { callbackUrls: [], logoutUrls: [] },
    users: { alice: { password: "Passw0rd!", email: "alice@example.com", groups: ["staff"] } },
  }),
  startUpstream(),
]);
t.teardown(() => Promise.all([ui.close(), up.close()]));
up.handler = (req, res) => {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (req.url.startsWith("/setcookie")) headers["set-cookie"] = "theirs=1; Path=/";
  res.writeHead(200, headers).end(JSON.stringify({ url: req.url, headers: req.headers }));
};

async function start(ingress: "nginx" | "traefik"): Promise<RunningApp> {
  const app = await startApp(`
issuers:
  - { id: pool, issuer: ${ui.issuer}, jwksUri: ${ui.jwksUri}, clientIds: [${ui.client.clientId}] }
sessions:
  issuer: pool
  clientId: ${ui.client.clientId}
  cookie: { keys: ["${KEY}"] }
forwardAuth: { ingress: ${ingress}, trustedSources: [127.0.0.1, "::1"] }
routes:
  - id: admins
    match: { pathPrefix: /admins }
    upstream: ${up.url}
    auth: { mode: authenticate, groups: [admins] }
  - id: opt
    match: { pathPrefix: /opt }
    upstream: ${up.url}
    auth: { mode: optional }
  - id: app
    upstream: ${up.url}
    auth: { mode: authenticate }
`);
  t.teardown(() => app.stop());
  await waitReady(app.adminUrl, 20_000);
  ui.client.callbackUrls.push(`${app.url}/oauth2/callback`);
  return app;
}

const app = await start("traefik");
const nginx = await start("nginx");

/**
 * A GET with exactly these headers: fetch() adds `Sec-Fetch-Mode: cors` of its own, and a browser
 * navigation must say `navigate`.
 */
async function get(url: string, headers: Record<string, string>) {
  const res = await request(url, { headers });
  await res.body.dump();
  const setCookie = res.headers["set-cookie"];
  const location = res.headers.location;
  return {
    status: res.statusCode,
    location: typeof location === "string" ? location : null,
    setCookies: setCookie === undefined ? [] : [setCookie].flat(),
  };
}

/** A cookie jar's header after these Set-Cookie values. */
function jar(setCookies: string[], previous = ""): string {
  const cookies = parseCookies(previous);
  for (const c of setCookies) {
    const [pair = "", ...attrs] = c.split("; ");
    const eq = pair.indexOf("=");
    if (attrs.includes("Max-Age=0")) cookies.delete(pair.slice(0, eq));
    else cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
}

/** Signs alice in through `/oauth2/start?rd=…`; returns the cookie header and where it ended. */
async function signIn(rd: string): Promise<{ cookie: string; location: string }> {
  const started = await fetch(`${app.url}/oauth2/start?rd=${encodeURIComponent(rd)}`, { redirect: "manual" });
  t.equal(started.status, 302, "start redirects to the pool");
  let cookie = jar(started.headers.getSetCookie());
  const authorize = await fetch(started.headers.get("location") as string, { redirect: "manual" });
  const login = new URL(authorize.headers.get("location") as string, ui.origin);
  const body = new URLSearchParams(login.searchParams);
  body.set("username", "alice");
  body.set("password", "Passw0rd!");
  const posted = await fetch(`${ui.origin}/login`, { method: "POST", body, redirect: "manual" });
  const callback = await fetch(posted.headers.get("location") as string, {
    headers: { cookie },
    redirect: "manual",
  });
  t.equal(callback.status, 302, "the callback redirects back");
  t.equal(callback.headers.get("cache-control"), "no-store");
  cookie = jar(callback.headers.getSetCookie(), cookie);
  return { cookie, location: callback.headers.get("location") as string };
}

t.test("the start endpoint keeps a path on this origin and refuses anything else", async (t) => {
  const { cookie, location } = await signIn("/deep/link?x=1");
  t.equal(location, "/deep/link?x=1");
  t.ok(parseCookies(cookie).has(COOKIE));
  t.notOk(parseCookies(cookie).has(`${COOKIE}-signin`), "the sign-in cookie is spent");
  for (const rd of ["//evil.example", "https://evil.example/", "/\\evil", "/a\r\nb"]) {
    const res = await fetch(`${app.url}/oauth2/start?rd=${encodeURIComponent(rd)}`, { redirect: "manual" });
    t.equal(res.status, 400, JSON.stringify(rd));
    t.equal(res.headers.get("location"), null);
  }
  const twice = await fetch(`${app.url}/oauth2/start?rd=/a&rd=/b`, { redirect: "manual" });
  t.equal(twice.status, 400, "two return paths");
  const plain = await fetch(`${app.url}/oauth2/start`, { redirect: "manual" });
  t.equal(plain.status, 302, "no rd: back to /");
  for (const [path, method] of [
    ["/oauth2/start", "POST"],
    ["/oauth2/callback", "POST"],
    ["/oauth2/sign_out", "PUT"],
  ] as const) {
    t.equal(
      (await fetch(`${app.url}${path}`, { method, redirect: "manual" })).status,
      405,
      `${method} ${path}`,
    );
  }
  t.notOk(
    up.requests.some((r) => r.url.includes("oauth2")),
    "the upstream never saw a session path",
  );
});

t.test("sessions on other routes: optional passes with identity, rules still apply", async (t) => {
  const { cookie } = await signIn("/");
  const opt = await fetch(`${app.url}/opt/x`, { headers: { cookie: `${cookie}; mine=1` } });
  const seen = (await opt.json()) as { headers: Record<string, string> };
  t.equal(seen.headers["x-auth-request-email"], "alice@example.com");
  t.equal(seen.headers.cookie, "mine=1", "only the app's own cookie passes");
  const anon = (await (await fetch(`${app.url}/opt/x`)).json()) as { headers: Record<string, string> };
  t.equal(anon.headers["x-auth-request-email"], undefined);
  const denied = await fetch(`${app.url}/admins/x`, { headers: { cookie, accept: "text/html" } });
  t.equal(denied.status, 403, "a session that fails the route's rules is 403, not a new sign-in");
});

t.test("a session whose ID token does not verify is ended and signs in again", async (t) => {
  const sealed = new Sealer([KEY]).seal(
    "session",
    { i: "a.b.c", a: "x", t: Date.now() / 1000 + 3600 },
    Date.now() / 1000 + 3600,
  );
  const res = await get(`${app.url}/page`, { cookie: `${COOKIE}=1.${sealed}`, "sec-fetch-mode": "navigate" });
  t.equal(res.status, 302);
  t.match(res.location, `${ui.origin}/oauth2/authorize?`);
  const set = res.setCookies;
  t.ok(
    set.some((c) => c.startsWith(`${COOKIE}=; Path=/; Max-Age=0`)),
    "the session is deleted",
  );
  t.ok(
    set.some((c) => c.startsWith(`${COOKIE}-signin=`)),
    "a sign-in starts",
  );
  const api = await fetch(`${app.url}/api`, { headers: { cookie: `${COOKIE}=1.${sealed}` } });
  t.equal(api.status, 401, "not a navigation: 401");
  t.ok(api.headers.getSetCookie().some((c) => c.startsWith(`${COOKIE}=; Path=/; Max-Age=0`)));
});

t.test("a refreshed session cookie goes out next to the upstream's own", async (t) => {
  ui.tokenSeconds = 61;
  const { cookie } = await signIn("/");
  ui.tokenSeconds = 3600;
  await new Promise((r) => setTimeout(r, 1100));
  const res = await fetch(`${app.url}/setcookie`, { headers: { cookie } });
  t.equal(res.status, 200);
  const set = res.headers.getSetCookie();
  t.ok(
    set.some((c) => c.startsWith(`${COOKIE}=`)),
    "the refreshed session",
  );
  t.ok(set.includes("theirs=1; Path=/"), "the upstream's cookie");
  t.equal(res.headers.get("cache-control"), "no-store");
  const before = joinChunks(parseCookies(cookie), COOKIE);
  t.not(joinChunks(parseCookies(jar(set, cookie)), COOKIE), before, "a new session");
});

t.test("forward-auth: sessions pass; Traefik gets the redirect, nginx a 401", async (t) => {
  const { cookie } = await signIn("/");
  const traefik = (extra: Record<string, string>) =>
    get(`${app.url}/_cupbearer/auth`, {
      "x-forwarded-method": "GET",
      "x-forwarded-host": "app.example.com",
      "x-forwarded-uri": "/page?q=1",
      ...extra,
    });
  const ok = await request(`${app.url}/_cupbearer/auth`, {
    headers: {
      "x-forwarded-method": "GET",
      "x-forwarded-host": "app.example.com",
      "x-forwarded-uri": "/page",
      cookie,
    },
  });
  await ok.body.dump();
  t.equal(ok.statusCode, 200);
  t.equal(ok.headers["x-auth-request-email"], "alice@example.com");
  const nav = await traefik({ "sec-fetch-mode": "navigate" });
  t.equal(nav.status, 302);
  t.match(nav.location, `${ui.origin}/oauth2/authorize?`);
  t.equal(
    new URL(nav.location as string).searchParams.get("redirect_uri"),
    "https://app.example.com/oauth2/callback",
    "the callback on the original host",
  );
  t.ok(nav.setCookies.some((c) => c.startsWith(`${COOKIE}-signin=`)));
  const fetchCall = await traefik({ "sec-fetch-mode": "cors" });
  t.equal(fetchCall.status, 401);
  const viaNginx = await get(`${nginx.url}/_cupbearer/auth`, {
    "x-original-method": "GET",
    "x-original-url": "https://app.example.com/page",
    "sec-fetch-mode": "navigate",
  });
  t.equal(viaNginx.status, 401, "auth_request passes no redirects");
  const expired = new Sealer([KEY]).seal("session", { i: "a.b.c", a: "x", t: 1 }, Date.now() / 1000 + 60);
  const cleared = await traefik({ cookie: `${COOKIE}=1.${expired}` });
  t.equal(cleared.status, 401);
  t.ok(
    cleared.setCookies.some((c) => c.startsWith(`${COOKIE}=; Path=/; Max-Age=0`)),
    "an ended session is deleted",
  );
});

t.test("sign-ins and refreshes are counted by outcome", async (t) => {
  const metrics = await (await fetch(`${app.adminUrl}/metrics`)).text();
  t.match(metrics, /cupbearer_session_events_total\{event="sign_in",result="ok"\} [1-9]/);
  t.match(metrics, /cupbearer_session_events_total\{event="refresh",result="ok"\} [1-9]/);
  t.notMatch(metrics, /__Host-cupbearer/, "no cookie in a label");
});
