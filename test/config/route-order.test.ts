import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { routeOrderWarnings } from "../../src/config/route-order.js";
import { parseConfig } from "../../src/config/schema.js";
import { runMain } from "../support/cli.js";

const ISSUERS = [
  { id: "i", issuer: "http://127.0.0.1:1/i", jwksUri: "http://127.0.0.1:1/j", anyClient: true },
];
const up = "http://127.0.0.1:1";

function warnings(...routes: Array<Record<string, unknown>>): string[] {
  return routeOrderWarnings(
    parseConfig({ issuers: ISSUERS, routes: routes.map((r, i) => ({ id: `r${i}`, upstream: up, ...r })) }),
  );
}

t.test("an earlier, weaker route that takes every path of a later one: a warning", async (t) => {
  t.strictSame(
    warnings(
      { match: { pathPrefix: "/api" }, auth: { mode: "public" } },
      { match: { pathPrefix: "/api/admin" }, auth: { groups: ["admin"] } },
    ),
    [
      "routes[1] (r1): routes[0] (r0) comes first and takes its requests with weaker rules; put the stricter route first",
    ],
  );
  t.strictSame(
    warnings(
      { match: { pathPrefix: "/API", methods: ["GET"] }, auth: { mode: "optional" } },
      { match: { path: "/api/x" } },
    ),
    [
      "routes[1] (r1): routes[0] (r0) comes first and takes its requests for some methods or hosts with weaker rules; put the stricter route first",
    ],
    "letter case ignored, and a GET route shadows HEAD and GET of a route with every method",
  );
  t.strictSame(
    warnings({ match: { path: "/a/b/" }, auth: { mode: "public" } }, { match: { path: "/a/b" } }),
    [
      "routes[1] (r1): routes[0] (r0) comes first and takes its requests with weaker rules; put the stricter route first",
    ],
    "exact paths compared without a trailing slash",
  );
  t.equal(
    warnings({ match: { hosts: ["*.t.test"] }, auth: { mode: "public" } }, { match: { hosts: ["a.t.test"] } })
      .length,
    1,
    "a wildcard host covers a name under it",
  );
});

t.test("no warning where the order is how exceptions are written, or nothing overlaps", async (t) => {
  const none: Array<[string, Array<Record<string, unknown>>]> = [
    [
      "a carve-out before its parent",
      [{ match: { pathPrefix: "/api/health" }, auth: { mode: "public" } }, { match: { pathPrefix: "/api" } }],
    ],
    [
      "an exact path before a prefix",
      [{ match: { path: "/api" }, auth: { mode: "public" } }, { match: { pathPrefix: "/api" } }],
    ],
    [
      "the stricter first",
      [{ match: { pathPrefix: "/api" }, auth: { groups: ["admin"] } }, { match: { pathPrefix: "/api/x" } }],
    ],
    [
      "other methods",
      [{ match: { methods: ["POST"] }, auth: { mode: "public" } }, { match: { methods: ["GET"] } }],
    ],
    [
      "other hosts",
      [{ match: { hosts: ["a.test"] }, auth: { mode: "public" } }, { match: { hosts: ["b.test"] } }],
    ],
    [
      "other paths",
      [{ match: { pathPrefix: "/a" }, auth: { mode: "public" } }, { match: { pathPrefix: "/ab" } }],
    ],
    [
      "case-sensitive routes in other case",
      [
        { match: { pathPrefix: "/API", caseSensitive: true }, auth: { mode: "public" } },
        { match: { pathPrefix: "/api", caseSensitive: true } },
      ],
    ],
  ];
  for (const [name, routes] of none) t.strictSame(warnings(...routes), [], name);
});

t.test("cupbearer check prints the warnings on stderr and still exits 0", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-order-"));
  const file = join(dir, "config.yaml");
  await writeFile(
    file,
    `issuers:\n  - { id: i, issuer: "http://127.0.0.1:1/i", jwksUri: "http://127.0.0.1:1/j", anyClient: true }\nroutes:\n  - { id: open, match: { pathPrefix: /api }, upstream: "${up}", auth: { mode: public } }\n  - { id: admin, match: { pathPrefix: /api/admin }, upstream: "${up}", auth: { groups: [admin] } }\n`,
  );
  const res = await runMain(t, ["check", "--config", file]);
  t.equal(res.code, 0);
  t.match(res.stdout, /OK \(2 routes, 1 issuer\)/);
  t.match(res.stderr, "warning: routes[1] (admin): routes[0] (open) comes first");
});
