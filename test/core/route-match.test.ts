import t from "tap";
import { parseConfig } from "../../src/config/schema.js";
import { type CompiledRoute, compileRoute, matchRoute } from "../../src/core/route.js";
import { mayStandIn } from "../../src/core/route-strictness.js";
import { Refusal } from "../../src/errors.js";

const ADMINS = { groups: ["admin"] };
const ANYONE = { mode: "required" };
const PUBLIC = { mode: "public" };

/** Routes as the schema gives them, compiled; `auth` defaults to public. */
function table(
  ...specs: Array<{ match?: Record<string, unknown>; auth?: Record<string, unknown> }>
): CompiledRoute[] {
  const config = parseConfig({
    issuers: [{ id: "i", issuer: "http://127.0.0.1:1/i", jwksUri: "http://127.0.0.1:1/j", anyClient: true }],
    routes: specs.map(({ match = {}, auth = PUBLIC }, i) => ({
      id: `r${i}`,
      match,
      upstream: "http://127.0.0.1:1",
      auth,
    })),
  });
  return config.routes.map(compileRoute);
}

/** The id of the route matched, "none", or the refusal's reason. */
function resolve(routes: CompiledRoute[], target: string, method = "GET"): string {
  const capitals = routes.some((r) => r.patternHasCapitals);
  try {
    const match = matchRoute(routes, "a.test", method, target, capitals, (a, b) =>
      mayStandIn(a.config, b.config),
    );
    return match?.route.id ?? "none";
  } catch (err) {
    if (err instanceof Refusal) return err.reason;
    throw err;
  }
}

t.test(
  "letter case: a prefix in other case gets its rules when they are the stricter, else 400",
  async (t) => {
    const routes = table({ match: { pathPrefix: "/admin" }, auth: ADMINS }, { auth: ANYONE });
    t.equal(resolve(routes, "/admin/x"), "r0");
    t.equal(
      resolve(routes, "/ADMIN/x"),
      "r0",
      "Express reads /admin, a servlet the catch-all: admin rules cover both",
    );
    t.equal(resolve(routes, "/other/X"), "r1", "capitals elsewhere change nothing");
    const weakFirst = table({ match: { pathPrefix: "/Public" }, auth: PUBLIC }, { auth: ANYONE });
    t.equal(resolve(weakFirst, "/Public/x"), "r0");
    t.equal(
      resolve(weakFirst, "/public/x"),
      "r1",
      "the catch-all's rules, the stricter, stand in for public ones",
    );
    const incomparable = table(
      { match: { pathPrefix: "/Public" }, auth: { issuers: ["i"], scopes: ["x"] } },
      { auth: { issuers: ["i"], groups: ["g"] } },
    );
    t.equal(resolve(incomparable, "/public/x"), "bad_path", "neither covers the other: refused");
    const alone = table({ match: { pathPrefix: "/admin" }, auth: ADMINS });
    t.equal(resolve(alone, "/ADMIN/x"), "bad_path", "a reading that reaches no route: refused");
    const noStandIn = table({ match: { pathPrefix: "/admin" }, auth: ADMINS }, { auth: ANYONE });
    t.equal(
      (() => {
        try {
          return matchRoute(noStandIn, "a.test", "GET", "/ADMIN/x")?.route.id;
        } catch (err) {
          return (err as Refusal).reason;
        }
      })(),
      "bad_path",
      "without a stand-in rule, any disagreement is refused",
    );
  },
);

t.test("match.caseSensitive: the route compares letter case, so no reading disagrees", async (t) => {
  const routes = table(
    { match: { pathPrefix: "/admin", caseSensitive: true }, auth: PUBLIC },
    { auth: ANYONE },
  );
  t.equal(resolve(routes, "/admin/x"), "r0");
  t.equal(resolve(routes, "/ADMIN/x"), "r1", "the upstream routes case-sensitively: not /admin");
});

t.test("path parameters: the route with and without them must be one, or the stricter", async (t) => {
  const routes = table(
    { match: { pathPrefix: "/admin" }, auth: ADMINS },
    { match: { pathPrefix: "/public" } },
  );
  t.equal(resolve(routes, "/admin;x/users"), "bad_path", "servlet: /admin/users; RFC 3986: no route");
  t.equal(resolve(routes, "/public;x/../admin/users"), "r0", "dot segments resolved first: a plain /admin");
  t.equal(resolve(routes, "/public/..;/admin"), "bad_path", "Tomcat's /..;/");
  t.equal(resolve(routes, "/admin/users;v=1"), "r0", "params that keep the route are fine");
  const withCatchAll = table({ match: { pathPrefix: "/admin" }, auth: ADMINS }, { auth: ANYONE });
  t.equal(resolve(withCatchAll, "/admin;x/users"), "r0", "admin rules stand in for the catch-all's");
  t.equal(resolve(table({}), "/anything;jsessionid=1/x"), "r0");
});

t.test("segments only some servers trim: 400 where they could change the route", async (t) => {
  const routes = table({ match: { pathPrefix: "/admin" }, auth: PUBLIC }, { auth: ANYONE });
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
  const routes = table(
    { match: { path: "/admin/report", methods: ["GET"] }, auth: ADMINS },
    { auth: ANYONE },
  );
  t.equal(resolve(routes, "/admin/report/"), "r0", "the exact route's rules, stricter than the catch-all's");
  t.equal(resolve(routes, "/admin/report", "HEAD"), "r0", "HEAD runs the GET handler");
  t.equal(resolve(routes, "/admin/report", "POST"), "r1");
  const weak = table({ match: { path: "/health" }, auth: PUBLIC }, { auth: ANYONE });
  t.equal(resolve(weak, "/health"), "r0");
  t.equal(
    resolve(weak, "/health/"),
    "r1",
    "a strict router runs the catch-all's handler: its rules, the stricter",
  );
});

t.test("TRACE and CONNECT: 405 unless a route lists them", async (t) => {
  const routes = table({});
  t.equal(resolve(routes, "/x", "TRACE"), "method");
  t.equal(resolve(routes, "/x", "CONNECT"), "method");
  t.equal(resolve(table({ match: { methods: ["TRACE"] } }), "/x", "TRACE"), "r0");
  t.equal(
    resolve(table({ match: { pathPrefix: "/a" } }), "/b", "GET"),
    "none",
    "other methods: 404 as before",
  );
});
