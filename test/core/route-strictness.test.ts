import t from "tap";
import { parseConfig } from "../../src/config/schema.js";
import type { RouteConfig } from "../../src/config/types.js";
import { atLeastAsStrict, mayStandIn } from "../../src/core/route-strictness.js";

function route(auth: Record<string, unknown>, extra: Record<string, unknown> = {}): RouteConfig {
  const config = parseConfig({
    issuers: [
      { id: "a", issuer: "http://127.0.0.1:1/a", jwksUri: "http://127.0.0.1:1/ja", anyClient: true },
      { id: "b", issuer: "http://127.0.0.1:1/b", jwksUri: "http://127.0.0.1:1/jb", anyClient: true },
    ],
    routes: [{ id: "r", upstream: "http://127.0.0.1:1", auth, ...extra }],
  });
  return config.routes[0] as RouteConfig;
}

t.test("atLeastAsStrict: every request the first admits, the second admits", async (t) => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, boolean]> = [
    ["required over public", { mode: "required" }, { mode: "public" }, true],
    ["public over required", { mode: "public" }, { mode: "required" }, false],
    ["optional over required", { mode: "optional" }, { mode: "required" }, false],
    ["required over optional", { mode: "required" }, { mode: "optional" }, true],
    ["groups over none", { issuers: ["a"], groups: ["admin"] }, {}, true],
    ["none over groups", {}, { issuers: ["a"], groups: ["admin"] }, false],
    [
      "one group over two",
      { issuers: ["a"], groups: ["admin"] },
      { issuers: ["a"], groups: ["admin", "staff"] },
      true,
    ],
    [
      "two groups over one",
      { issuers: ["a"], groups: ["admin", "staff"] },
      { issuers: ["a"], groups: ["admin"] },
      false,
    ],
    ["more scopes", { issuers: ["a"], scopes: ["x", "y"] }, { issuers: ["a"], scopes: ["x"] }, true],
    ["fewer scopes", { issuers: ["a"], scopes: ["x"] }, { issuers: ["a"], scopes: ["x", "y"] }, false],
    ["one issuer over any", { issuers: ["a"] }, {}, true],
    ["any issuer over one", {}, { issuers: ["a"] }, false],
    ["other issuer", { issuers: ["b"] }, { issuers: ["a"] }, false],
    ["token use", { tokenUse: "access" }, { tokenUse: "id" }, false],
    ["token use over any", { tokenUse: "access" }, {}, true],
    ["claims", { issuers: ["a"], claims: { t: 1, u: "x" } }, { issuers: ["a"], claims: { t: 1 } }, true],
    ["claim differs", { issuers: ["a"], claims: { t: 2 } }, { issuers: ["a"], claims: { t: 1 } }, false],
  ];
  for (const [name, a, b, expected] of cases) t.equal(atLeastAsStrict(route(a), route(b)), expected, name);
});

t.test("mayStandIn: stricter, same upstream, path unchanged, no extra rewrite header", async (t) => {
  const strict = route({ issuers: ["a"], groups: ["admin"] });
  const open = route({ mode: "public" });
  t.ok(mayStandIn(strict, open));
  t.notOk(mayStandIn(open, strict));
  t.notOk(
    mayStandIn(strict, route({ mode: "public" }, { upstream: "http://127.0.0.1:2" })),
    "another upstream",
  );
  t.notOk(
    mayStandIn(strict, route({ mode: "public" }, { match: { pathPrefix: "/p" }, stripPrefix: true })),
    "stripPrefix",
  );
  t.notOk(
    mayStandIn(
      route({ issuers: ["a"], groups: ["admin"] }, { forwardRewriteHeaders: ["X-HTTP-Method-Override"] }),
      open,
    ),
    "a rewrite header the other would drop",
  );
});
