import fc from "fast-check";
import t from "tap";
import { parseConfig } from "../../src/config/schema.js";
import { type CompiledRoute, compileRoute, matchRoute } from "../../src/core/route.js";
import { mayStandIn } from "../../src/core/route-strictness.js";
import { Refusal } from "../../src/errors.js";
import { servletPath } from "../support/stacks.js";

/**
 * Random paths against reference resolvers: for every path cupbearer lets through, the route a
 * servlet container, Express's default router, a plain RFC 3986 reader and a decoding, trimming
 * (IIS-like) server reach with the path cupbearer forwards is the route cupbearer applied, or
 * one whose rules the applied route's include (a stricter route standing in).
 */

const up = "http://127.0.0.1:1";
const config = parseConfig({
  issuers: [{ id: "i", issuer: "http://127.0.0.1:1/i", jwksUri: "http://127.0.0.1:1/j", anyClient: true }],
  routes: [
    { id: "admin", match: { pathPrefix: "/admin" }, upstream: up, auth: { groups: ["admin"] } },
    { id: "report", match: { path: "/reports/daily" }, upstream: up, auth: { groups: ["admin"] } },
    { id: "public", match: { pathPrefix: "/public" }, upstream: up, auth: { mode: "public" } },
    { id: "rest", upstream: up, auth: { mode: "required" } },
  ],
});
const routes: CompiledRoute[] = config.routes.map(compileRoute);

/** Which route a reader's view of the path falls in: the same table, read its way. */
function routeOf(path: string, caseInsensitive: boolean, trailingSlashOptional: boolean): string {
  const p = caseInsensitive ? path.toLowerCase() : path;
  const under = (prefix: string) => p === prefix || p.startsWith(`${prefix}/`);
  if (under("/admin")) return "admin";
  if (p === "/reports/daily" || (trailingSlashOptional && p === "/reports/daily/")) return "report";
  if (under("/public")) return "public";
  return "rest";
}

function removeDots(path: string): string {
  const out: string[] = [];
  const segs = path.split("/").slice(1);
  for (const s of segs) {
    if (s === ".") continue;
    if (s === "..") out.pop();
    else out.push(s);
  }
  const last = segs[segs.length - 1];
  return `/${out.join("/")}${(last === "." || last === "..") && out.length > 0 ? "/" : ""}`;
}

function latin1Decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return unescape(s);
  }
}

const READERS: Record<string, (forwarded: string) => string> = {
  // Tomcat/Jetty: ;params cut, decoded, dots resolved, case-sensitive, exact paths strict.
  servlet: (p) => routeOf(servletPath(p), false, false),
  // Express 4: the raw path, case-insensitive, non-strict.
  express: (p) => routeOf(p, true, true),
  // RFC 3986: unreserved escapes decoded, dot segments removed, compared as is.
  rfc3986: (p) =>
    routeOf(
      removeDots(p.replace(/%(2[DdEe]|5[Ff]|7[Ee]|[46][1-9A-Fa-f]|[57][0-9Aa])/g, (e) => latin1Decode(e))),
      false,
      false,
    ),
  // IIS-like: everything decoded, fullwidth forms folded, trailing dots and spaces trimmed, case-insensitive.
  lenient: (p) => {
    const decoded = latin1Decode(p.replace(/%C0%AF|%E0%80%AF/gi, "/"))
      .normalize("NFKC")
      .replaceAll("\\", "/");
    const trimmed = decoded
      .split("/")
      .map((s) => (s === "." || s === ".." ? s : s.split(";", 1)[0]?.replace(/[. ]+$/, "")))
      .join("/");
    return routeOf(removeDots(trimmed).replace(/\/{2,}/g, "/"), true, true);
  },
};

const word = fc.constantFrom("admin", "public", "reports", "daily", "users", "x", "Admin", "ADMIN", "PUBLIC");
const flipCase = (s: string, flips: boolean[]) =>
  [...s].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c)).join("");
const escapeOne = (s: string, at: number) => {
  if (s.length === 0) return s;
  const i = at % s.length;
  return `${s.slice(0, i)}%${s.charCodeAt(i).toString(16).toUpperCase()}${s.slice(i + 1)}`;
};
const segment = fc.oneof(
  { weight: 5, arbitrary: word },
  {
    weight: 2,
    arbitrary: fc
      .tuple(word, fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }))
      .map(([w, f]) => flipCase(w, f)),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(word, fc.constantFrom(";x", ";jsessionid=1", ";", ";a=b;c")).map(([w, p]) => w + p),
  },
  { weight: 2, arbitrary: fc.constantFrom(".", "..", ".;x", "..;", "%2e", "%2E%2e", "") },
  { weight: 2, arbitrary: fc.tuple(word, fc.nat()).map(([w, n]) => escapeOne(w, n)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(word, fc.constantFrom(".", "%20", "%C0%AF", "%EF%BC%8F", "%3B", "%2e", "%E2%80%AE", "%FF"), word)
      .map(([a, mid, b]) => a + mid + b),
  },
  { weight: 1, arbitrary: fc.tuple(word, fc.constantFrom(".", "%20", "%20.")).map(([w, e]) => w + e) },
);
const target = fc
  .tuple(
    fc.array(fc.tuple(fc.constantFrom("/", "/", "/", "//"), segment), { minLength: 1, maxLength: 5 }),
    fc.boolean(),
  )
  .map(([parts, slash]) => parts.map(([sep, seg]) => sep + seg).join("") + (slash ? "/" : ""));

t.test("every path cupbearer lets through reaches cupbearer's route in every reader", async (t) => {
  let passed = 0;
  let refused = 0;
  fc.assert(
    fc.property(target, (raw) => {
      let match: ReturnType<typeof matchRoute<CompiledRoute>>;
      try {
        match = matchRoute(routes, "a.test", "GET", raw, false, (a, b) => mayStandIn(a.config, b.config));
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        refused++;
        return true;
      }
      if (match === undefined) throw new Error(`no route for ${raw}: the catch-all takes everything`);
      passed++;
      const forwarded = match.route.upstreamPath(match.path);
      for (const [reader, read] of Object.entries(READERS)) {
        const reached = read(forwarded);
        const applied = match.route;
        const rulesOfReached = routes.find((r) => r.id === reached);
        if (
          rulesOfReached === undefined ||
          (reached !== applied.id && !mayStandIn(applied.config, rulesOfReached.config))
        ) {
          throw new Error(
            `${raw} → ${forwarded}: cupbearer applied ${applied.id}, ${reader} reaches ${reached}`,
          );
        }
      }
      return true;
    }),
    { numRuns: Number(process.env.FUZZ_RUNS ?? 3000) },
  );
  t.ok(passed > 300, `most paths pass (${passed} passed, ${refused} refused)`);
  t.ok(refused > 100, "and the tricky ones are refused");
});
