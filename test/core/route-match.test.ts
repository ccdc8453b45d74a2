import t from "tap";
import { parseConfig } from "../../src/config/schema.js";
import { type CompiledRoute, compileRoute, matchRoute } from "../../src/core/route.js";
import { Refusal } from "../../src/errors.js";

/** Routes as the schema gives them, compiled, public (no issuer needed). */
function table(...matches: Array<Record<string, unknown>>): CompiledRoute[] {
  const config = parseConfig({
    routes: matches.map((match, i) => ({
      id: `r${i}`,
      match,
      upstream: "http://127.0.0.1:1",
      auth: { mode: "public" },
    })),
  });
  return config.routes.map(compileRoute);
}

/** The id of the route matched, "none", or the refusal's reason. */
function resolve(routes: CompiledRoute[], target: string, method = "GET", host = "a.test"): string {
  const capitals = routes.some((r) => r.patternHasCapitals);
  try {
    return matchRoute(routes, host, method, target, capitals)?.route.id ?? "none";
  } catch (err) {
    if (err instanceof Refusal) return err.reason;
    throw err;
  }
}

t.test("letter case: a prefix in other case gets its rules, or 400 when a reading disagrees", async (t) => {
  const alone = table({ pathPrefix: "/admin" });
  // Case-insensitive upstream: /ADMIN is /admin; a case-sensitive one: no route at all. Disagree.
  t.equal(resolve(alone, "/admin/x"), "r0");
  t.equal(resolve(alone, "/ADMIN/x"), "bad_path");
  const withCatchAll = table({ pathPrefix: "/admin" }, {});
  t.equal(resolve(withCatchAll, "/Admin/users"), "bad_path", "admin rules or the catch-all's: refused");
  t.equal(resolve(withCatchAll, "/other/X"), "r1", "capitals elsewhere change nothing");
  const capitalPattern = table({ pathPrefix: "/Public" }, {});
  t.equal(resolve(capitalPattern, "/Public/x"), "r0");
  t.equal(
    resolve(capitalPattern, "/public/x"),
    "bad_path",
    "a lower-case path against a capital pattern too",
  );
});

t.test("match.caseSensitive: the route compares letter case, so no reading disagrees", async (t) => {
  const routes = table({ pathPrefix: "/admin", caseSensitive: true }, {});
  t.equal(resolve(routes, "/admin/x"), "r0");
  t.equal(resolve(routes, "/ADMIN/x"), "r1", "the upstream routes case-sensitively: not /admin");
});

t.test("path parameters: the route with and without them must be one", async (t) => {
  const routes = table({ pathPrefix: "/admin" }, { pathPrefix: "/public" });
  t.equal(resolve(routes, "/admin;x/users"), "bad_path", "servlet: /admin/users; RFC 3986: no route");
  t.equal(resolve(routes, "/public;x/../admin/users"), "r0", "dot segments resolved first: a plain /admin");
  t.equal(resolve(routes, "/public/..;/admin"), "bad_path", "Tomcat's /..;/");
  t.equal(resolve(routes, "/admin/users;v=1"), "r0", "params that keep the route are fine");
  const catchAll = table({});
  t.equal(resolve(catchAll, "/anything;jsessionid=1/x"), "r0");
});

t.test("segments only some servers trim: 400 where they could change the route", async (t) => {
  const routes = table({ pathPrefix: "/admin" }, {});
  for (const p of [
    "/admin./x",
    "/admin%20/x",
    "/admin%C0%AFx",
    "/admin%EF%BC%8Fx",
    "/%EF%BD%81dmin/x",
    "/adm%C4%B1n/x",
  ]) {
    t.equal(resolve(routes, p), "bad_path", p);
  }
  t.equal(resolve(routes, "/files/report."), "r1", "a trailing dot that changes no route");
  t.equal(resolve(routes, "/admin/a%20b"), "r0");
});

t.test("trailing slash and HEAD: as non-strict routers read them", async (t) => {
  const routes = table({ path: "/admin/report", methods: ["GET"] }, {});
  t.equal(resolve(routes, "/admin/report/"), "r0");
  t.equal(resolve(routes, "/admin/report", "HEAD"), "r0", "HEAD runs the GET handler");
  t.equal(resolve(routes, "/admin/report", "POST"), "r1");
});

t.test("TRACE and CONNECT: 405 unless a route lists them", async (t) => {
  const routes = table({});
  t.equal(resolve(routes, "/x", "TRACE"), "method");
  t.equal(resolve(routes, "/x", "CONNECT"), "method");
  t.equal(resolve(table({ methods: ["TRACE"] }), "/x", "TRACE"), "r0");
  t.equal(resolve(table({ pathPrefix: "/a" }), "/b", "GET"), "none", "other methods: 404 as before");
});
