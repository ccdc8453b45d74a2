/**
 * The session service against the hosted-UI emulator, driven over real HTTP without a browser:
 * the code flow, refresh (single flight, refused, failed), sign-out with revocation and Cognito's
 * logout URL, and every way a sign-in cookie or a session cookie can be wrong.
 */
import t, { type Test } from "tap";
import { joinChunks, parseCookies } from "../../src/core/session-rules.js";
import { Refusal } from "../../src/errors.js";
import { Sealer } from "../../src/sessions/seal.js";
import { type SessionEventCounter, SessionService } from "../../src/sessions/service.js";
import { startHostedUi } from "../support/hosted-ui.js";

const KEY_A = "a".repeat(32);
const KEY_B = "b".repeat(40);
const ORIGIN = "http://127.0.0.1:9";

const ui = await startHostedUi({
  client: { callbackUrls: [`${ORIGIN}/oauth2/callback`], logoutUrls: [`${ORIGIN}/bye`] },
  users: { alice: { password: "Passw0rd!", email: "alice@example.com", groups: ["staff"] } },
});
t.teardown(() => ui.close());

const events: string[] = [];
const count: SessionEventCounter = (event, result) => events.push(`${event}:${result}`);

function service(
  overrides: { keys?: string[]; now?: () => number; issuerUrl?: string; logoutUri?: string } = {},
) {
  return new SessionService({
    config: {
      issuer: "pool",
      clientId: ui.client.clientId,
      scopes: ["openid", "email"],
      callbackPath: "/oauth2/callback",
      signOutPath: "/oauth2/sign_out",
      startPath: "/oauth2/start",
      ...(overrides.logoutUri === undefined ? {} : { logoutUri: overrides.logoutUri }),
      refreshBeforeSeconds: 60,
      timeoutMs: 2000,
      cookie: { name: "__Host-cupbearer", keys: overrides.keys ?? [KEY_A], maxAgeSeconds: 28_800 },
    },
    issuerUrl: overrides.issuerUrl ?? ui.issuer,
    allowHttp: true,
    verifyIdToken: async (token) => {
      if (token.split(".").length !== 3) throw new Refusal("malformed");
    },
    count,
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
  });
}

/** Asserts that `p` is refused for `reason`. */
async function refused(t: Test, p: Promise<unknown>, reason: string, msg = reason): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.equal(err instanceof Refusal ? err.reason : err, reason, msg);
}

/** The Cookie header a browser would send back for these Set-Cookie values. */
function cookieHeader(setCookies: string[], previous = ""): string {
  const jar = parseCookies(previous);
  for (const c of setCookies) {
    const [pair, ...attrs] = c.split("; ");
    const eq = (pair as string).indexOf("=");
    const name = (pair as string).slice(0, eq);
    if (attrs.includes("Max-Age=0")) jar.delete(name);
    else jar.set(name, (pair as string).slice(eq + 1));
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
}

/** What a browser does between the redirect to the pool and the callback: returns the callback's query. */
async function signInAt(location: string, password = "Passw0rd!"): Promise<string> {
  const authorize = await fetch(location, { redirect: "manual" });
  t.equal(authorize.status, 302, "authorize sends the browser to the login form");
  const login = new URL(authorize.headers.get("location") as string, ui.origin);
  const body = new URLSearchParams(login.searchParams);
  body.set("username", "alice");
  body.set("password", password);
  const posted = await fetch(`${ui.origin}/login`, { method: "POST", body, redirect: "manual" });
  t.equal(posted.status, 302, "the login form redirects back");
  const back = new URL(posted.headers.get("location") as string);
  t.equal(back.origin + back.pathname, `${ORIGIN}/oauth2/callback`);
  return back.search;
}

async function signedIn(s: SessionService, returnPath = "/app?x=1") {
  const start = await s.startSignIn(ORIGIN, returnPath);
  const query = await signInAt(start.location);
  const done = await s.finishSignIn(ORIGIN, query, cookieHeader([start.setCookie]));
  return { start, query, done, cookie: cookieHeader(done.setCookies, cookieHeader([start.setCookie])) };
}

t.test("the code flow: PKCE, state and nonce, the deep link kept, the sign-in cookie spent", async (t) => {
  const s = service();
  const start = await s.startSignIn(ORIGIN, "/app?x=1");
  const url = new URL(start.location);
  t.equal(url.origin + url.pathname, `${ui.origin}/oauth2/authorize`);
  t.equal(url.searchParams.get("code_challenge_method"), "S256");
  t.ok(url.searchParams.get("state"));
  t.ok(url.searchParams.get("nonce"));
  t.equal(url.searchParams.get("redirect_uri"), `${ORIGIN}/oauth2/callback`);
  t.equal(url.searchParams.get("scope"), "openid email");
  t.match(
    start.setCookie,
    /^__Host-cupbearer-signin=[A-Za-z0-9_-]+; Path=\/; Max-Age=600; HttpOnly; Secure; SameSite=Lax$/,
  );
  const query = await signInAt(start.location);
  const done = await s.finishSignIn(ORIGIN, query, cookieHeader([start.setCookie]));
  t.equal(done.location, "/app?x=1");
  t.ok(done.setCookies.some((c) => c.startsWith("__Host-cupbearer=")));
  t.ok(done.setCookies.some((c) => c.startsWith("__Host-cupbearer-signin=; Path=/; Max-Age=0")));
  for (const c of done.setCookies) t.ok(Buffer.byteLength(c) < 4096, "every cookie under 4 KB");
  const resumed = await s.resume(cookieHeader(done.setCookies));
  t.equal(resumed.kind, "session");
  if (resumed.kind === "session") {
    t.equal(
      JSON.parse(Buffer.from(resumed.idToken.split(".")[1] as string, "base64url").toString()).token_use,
      "id",
    );
    t.same(resumed.setCookies, []);
  }
  // The code is spent: a replayed callback is refused.
  await refused(t, s.finishSignIn(ORIGIN, query, cookieHeader([start.setCookie])), "sign_in_failed");
});

t.test("a callback without its sign-in cookie, with another state, or an error is refused", async (t) => {
  const s = service();
  const start = await s.startSignIn(ORIGIN, "/");
  const query = await signInAt(start.location);
  await refused(t, s.finishSignIn(ORIGIN, query, undefined), "sign_in_state");
  await refused(t, s.finishSignIn(ORIGIN, query, "__Host-cupbearer-signin=junk"), "sign_in_state");
  const wrong = query.replace(/state=[^&]+/, "state=forged");
  await refused(t, s.finishSignIn(ORIGIN, wrong, cookieHeader([start.setCookie])), "sign_in_failed");
  await refused(
    t,
    s.finishSignIn(ORIGIN, "?error=access_denied&state=x", cookieHeader([start.setCookie])),
    "sign_in_failed",
  );
  // A sign-in cookie sealed by a key no longer configured.
  await refused(
    t,
    service({ keys: [KEY_B] }).finishSignIn(ORIGIN, query, cookieHeader([start.setCookie])),
    "sign_in_state",
  );
  // Expired: ten minutes and a second later.
  const later = service({ now: () => Date.now() + 601_000 });
  await refused(t, later.finishSignIn(ORIGIN, query, cookieHeader([start.setCookie])), "sign_in_state");
});

t.test(
  "tampered, truncated, foreign or expired session cookies are no session, and are cleared",
  async (t) => {
    const s = service();
    const { cookie } = await signedIn(s);
    const value = parseCookies(cookie).get("__Host-cupbearer") as string;
    const flipped = value.slice(0, -3) + (value.at(-3) === "A" ? "B" : "A") + value.slice(-2);
    for (const bad of [
      `__Host-cupbearer=${flipped}`,
      `__Host-cupbearer=${value.slice(0, 200)}`,
      "__Host-cupbearer=2.abc",
      `__Host-cupbearer=${value}; __Host-cupbearer=${value}`,
    ]) {
      const r = await s.resume(bad);
      t.equal(r.kind, "none", bad.slice(0, 40));
      t.ok(
        r.setCookies.some((c) => c.startsWith("__Host-cupbearer=; Path=/; Max-Age=0")),
        "cleared",
      );
    }
    t.same(await s.resume("other=1"), { kind: "none", setCookies: [] });
    t.equal(
      (await service({ now: () => Date.now() + 28_801_000 }).resume(cookie)).kind,
      "none",
      "past maxAgeSeconds",
    );
    // Rotation: a new first key still opens the old key's sessions; dropping the old key ends them.
    t.equal((await service({ keys: [KEY_B, KEY_A] }).resume(cookie)).kind, "session");
    t.equal((await service({ keys: [KEY_B] }).resume(cookie)).kind, "none");
    // A session cookie is not a sign-in cookie, nor the other way round.
    const sealer = new Sealer([KEY_A]);
    const signinSealed = sealer.seal("signin", { i: "a.b.c", a: "x", t: 9e9 }, Date.now() / 1000 + 100);
    t.equal((await s.resume(`__Host-cupbearer=1.${signinSealed}`)).kind, "none");
    // Well sealed but not a session's fields.
    const odd = sealer.seal("session", { i: 1, a: "x", t: 9e9 }, Date.now() / 1000 + 100);
    t.equal((await s.resume(`__Host-cupbearer=1.${odd}`)).kind, "none");
  },
);

t.test(
  "refresh ahead of expiry, once for concurrent requests; a refused refresh ends the session",
  async (t) => {
    let offset = 0;
    const s = service({ now: () => Date.now() + offset });
    const { cookie } = await signedIn(s);
    const before = ui.tokenCalls.filter((c) => c.startsWith("refresh_token")).length;
    offset = (ui.tokenSeconds - 30) * 1000; // inside the 60 s refresh window
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => s.resume(cookie)));
    const refreshes = ui.tokenCalls.filter((c) => c.startsWith("refresh_token")).slice(before);
    t.same(refreshes, ["refresh_token:ok"], "one refresh for five requests");
    for (const r of all) {
      t.equal(r.kind, "session");
      if (r.kind === "session")
        t.ok(
          r.setCookies.some((c) => c.startsWith("__Host-cupbearer=")),
          "new cookie",
        );
    }
    t.ok(events.includes("refresh:ok"));
    // The refresh token is revoked: the next refresh is refused and the session ends.
    const sealed = joinChunks(parseCookies(cookie), "__Host-cupbearer") as string;
    const opened = new Sealer([KEY_A]).open("session", sealed, 0);
    await fetch(`${ui.origin}/oauth2/revoke`, {
      method: "POST",
      body: new URLSearchParams({ token: opened?.r as string, client_id: ui.client.clientId }),
    });
    const ended = await s.resume(cookie);
    t.equal(ended.kind, "none");
    t.ok(ended.setCookies.some((c) => c.startsWith("__Host-cupbearer=; Path=/; Max-Age=0")));
    t.ok(events.includes("refresh:refused"));
  },
);

t.test("a pool that cannot be reached: the tokens serve until they expire, then 503", async (t) => {
  let offset = 0;
  const s = service({ now: () => Date.now() + offset });
  const { cookie } = await signedIn(s);
  // Point the same sealed session at a service whose pool is down.
  const down = service({ issuerUrl: "http://127.0.0.1:9/pool", now: () => Date.now() + offset });
  offset = (ui.tokenSeconds - 30) * 1000;
  const early = await down.resume(cookie);
  t.equal(early.kind, "session", "the refresh failed, the tokens still serve");
  if (early.kind === "session") t.same(early.setCookies, []);
  offset = (ui.tokenSeconds + 30) * 1000;
  await refused(t, down.resume(cookie), "sign_in_unavailable", "expired and no refresh: 503");
  t.equal((await s.resume(cookie)).kind, "session", "refreshed while the pool is up");
  await refused(t, down.startSignIn(ORIGIN, "/"), "sign_in_unavailable");
  t.ok(events.includes("refresh:failed"));
});

t.test("sign-out revokes the refresh token, clears the cookies and ends at Cognito's /logout", async (t) => {
  const s = service({ logoutUri: `${ORIGIN}/bye` });
  const { cookie } = await signedIn(s);
  const revokedBefore = ui.revoked.length;
  const out = await s.signOut(`${cookie}; __Host-cupbearer-signin=x`);
  t.equal(ui.revoked.length, revokedBefore + 1, "the refresh token is revoked");
  const logout = new URL(out.location);
  t.equal(logout.origin + logout.pathname, `${ui.origin}/logout`);
  t.equal(logout.searchParams.get("client_id"), ui.client.clientId);
  t.equal(logout.searchParams.get("logout_uri"), `${ORIGIN}/bye`);
  const res = await fetch(out.location, { redirect: "manual" });
  t.equal(res.headers.get("location"), `${ORIGIN}/bye`);
  t.ok(out.setCookies.some((c) => c.startsWith("__Host-cupbearer=; Path=/; Max-Age=0")));
  t.ok(out.setCookies.some((c) => c.startsWith("__Host-cupbearer-signin=; Path=/; Max-Age=0")));
  // Without a logout URI, or a session, sign-out still clears and ends at /.
  const plain = await service().signOut(undefined);
  t.same(plain, { location: "/", setCookies: [] });
  // The pool unreachable: the cookies are cleared anyway.
  const down = await service({ issuerUrl: "http://127.0.0.1:9/pool" }).signOut(cookie);
  t.equal(down.location, "/");
  t.ok(events.includes("sign_out:failed"));
});
