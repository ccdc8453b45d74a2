/**
 * The pure rules of browser sessions: which requests are navigations, which return paths are
 * safe, and how sealed sessions are chunked into cookies and joined back.
 */
import t from "tap";
import {
  CHUNK_CHARS,
  chunkName,
  clearCookies,
  isNavigation,
  isSessionCookie,
  joinChunks,
  MAX_CHUNKS,
  parseCookies,
  safeReturnPath,
  setCookie,
  splitChunks,
  withoutSessionCookies,
} from "../../src/core/session-rules.js";

t.test("navigations are redirected, everything else gets 401", async (t) => {
  const cases: Array<[string, string, Record<string, string>, boolean]> = [
    ["a navigation", "GET", { "sec-fetch-mode": "navigate", accept: "text/html" }, true],
    ["fetch", "GET", { "sec-fetch-mode": "cors", accept: "text/html" }, false],
    ["same-origin fetch", "GET", { "sec-fetch-mode": "same-origin" }, false],
    ["no Fetch Metadata, HTML wanted", "GET", { accept: "text/html,application/xhtml+xml" }, true],
    ["no Fetch Metadata, upper case", "HEAD", { accept: "TEXT/HTML" }, true],
    ["no Fetch Metadata, JSON wanted", "GET", { accept: "application/json" }, false],
    ["no Accept at all", "GET", {}, false],
    ["a POST navigation (a form)", "POST", { "sec-fetch-mode": "navigate", accept: "text/html" }, false],
  ];
  for (const [name, method, headers, want] of cases) t.equal(isNavigation(method, headers), want, name);
});

t.test("return paths stay on this origin", async (t) => {
  for (const good of ["/", "/app", "/reports/q3?year=2026&x=%2F%2F", "/a/b#frag", "/%2F%2Fevil"]) {
    t.equal(safeReturnPath(good), good, good);
  }
  for (const bad of [
    undefined,
    "",
    "//evil.example/",
    "/\\evil.example",
    "/a\\b",
    "https://evil.example/",
    "evil",
    "/a\r\nLocation: x",
    "/a\tb",
    "/a b",
    "/\u00e9",
    "/\x7f",
    `/${"a".repeat(2048)}`,
  ]) {
    t.equal(safeReturnPath(bad), undefined, JSON.stringify(bad));
  }
});

t.test("cookies: parsed by name, a name sent twice is no value", async (t) => {
  const jar = parseCookies("a=1; b = 2 ;c=; =x; junk; a=3");
  t.equal(jar.get("b"), "2");
  t.equal(jar.get("c"), "");
  t.ok(jar.has("a"));
  t.equal(jar.get("a"), undefined, "doubled");
  t.equal(parseCookies(undefined).size, 0);
});

t.test("chunks: split under the limit, joined by the count in the first", async (t) => {
  const small = splitChunks("abc");
  t.same(small, ["1.abc"]);
  const big = "x".repeat(CHUNK_CHARS * 2 + 5);
  const parts = splitChunks(big) as string[];
  t.equal(parts.length, 3);
  for (const p of parts) t.ok(setCookie("__Host-cupbearer.1", p, 28_800).length < 4096, "under 4 KB");
  const jar = new Map(parts.map((p, i) => [chunkName("s", i), p] as [string, string]));
  t.equal(joinChunks(jar, "s"), big);
  // A stale fourth chunk from a longer session is ignored.
  jar.set("s.3", "stale");
  t.equal(joinChunks(jar, "s"), big);
  t.equal(splitChunks("x".repeat(CHUNK_CHARS * MAX_CHUNKS + 1)), undefined, "too large: refused, not cut");
  const missing = new Map(jar);
  missing.delete("s.1");
  t.equal(joinChunks(missing, "s"), undefined, "a chunk missing");
  for (const first of ["abc", "0.abc", "9.abc", ".abc", `1.${"x".repeat(CHUNK_CHARS + 1)}`]) {
    t.equal(joinChunks(new Map([["s", first]]), "s"), undefined, first.slice(0, 12));
  }
  t.equal(
    joinChunks(
      new Map([
        ["s", "2.a"],
        ["s.1", "x".repeat(CHUNK_CHARS + 1)],
      ]),
      "s",
    ),
    undefined,
  );
  t.equal(joinChunks(new Map(), "s"), undefined);
});

t.test("session cookies: recognized, stripped, cleared", async (t) => {
  const name = "__Host-cupbearer";
  for (const c of [name, `${name}.1`, `${name}.12`, `${name}-signin`]) t.ok(isSessionCookie(c, name), c);
  for (const c of ["other", `${name}.x`, `${name}.123`, `${name}x`, `x${name}`])
    t.notOk(isSessionCookie(c, name), c);
  const header = `a=1; ${name}=1.xyz; ${name}.1=abc; b=2; ${name}-signin=s`;
  t.equal(withoutSessionCookies(header, name), "a=1; b=2");
  t.equal(withoutSessionCookies("a=1;b=2", name), "a=1;b=2", "unchanged when there are none");
  t.equal(withoutSessionCookies(`${name}=1.x`, name), undefined);
  t.equal(setCookie(name, "v", 10.7), `${name}=v; Path=/; Max-Age=10; HttpOnly; Secure; SameSite=Lax`);
  t.equal(setCookie(name, "", -5), `${name}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax`);
  const jar = parseCookies(`${name}=1.x; ${name}.2=y`);
  t.same(clearCookies(jar, name), [setCookie(name, "", 0), setCookie(`${name}.2`, "", 0)]);
  t.same(clearCookies(jar, name, 1), [setCookie(`${name}.2`, "", 0)]);
});
