import t from "tap";
import {
  type Claims,
  compileRules,
  evaluate,
  groupsOf,
  type PolicyDecision,
  ruleRefusal,
} from "../../src/core/policy.js";

type RuleInput = Parameters<typeof compileRules>[0];

const NO_RULES: RuleInput = { tokenUse: "any", scopes: [], groups: [], claims: {} };
const rules = (r: Partial<RuleInput>) => compileRules({ ...NO_RULES, ...r });

const allow: PolicyDecision = { allow: true };
const deny = (reason: string) => ({ allow: false, reason });

t.test("compileRules", async (t) => {
  const scopes = ["a"];
  const compiled = compileRules({
    issuers: ["pool", "local"],
    tokenUse: "access",
    scopes,
    groups: ["g"],
    claims: { "custom:tenant": "acme", level: 2 },
  });
  t.strictSame([...(compiled.issuers ?? [])], ["pool", "local"]);
  t.equal(compiled.tokenUse, "access");
  t.strictSame(compiled.scopes, ["a"]);
  t.strictSame(compiled.groups, ["g"]);
  t.strictSame(compiled.claims, [
    ["custom:tenant", "acme"],
    ["level", 2],
  ]);
  scopes.push("b");
  t.strictSame(compiled.scopes, ["a"], "a copy: later changes to the config do not leak in");
  t.equal(rules({}).issuers, undefined, "no issuers rule");
});

t.test("evaluate", async (t) => {
  const cases: Array<
    [name: string, rules: Partial<RuleInput>, issuer: string, claims: Claims, expected: object]
  > = [
    ["no rules", {}, "any", {}, allow],

    // Issuers.
    ["issuer listed", { issuers: ["pool", "local"] }, "local", {}, allow],
    ["issuer not listed", { issuers: ["pool"] }, "local", {}, deny("issuer_not_allowed")],
    ["issuer ids are exact", { issuers: ["pool"] }, "Pool", {}, deny("issuer_not_allowed")],

    // Token use.
    ["access wanted, access given", { tokenUse: "access" }, "i", { token_use: "access" }, allow],
    ["access wanted, id given", { tokenUse: "access" }, "i", { token_use: "id" }, deny("token_use")],
    ["id wanted, id given", { tokenUse: "id" }, "i", { token_use: "id" }, allow],
    ["id wanted, access given", { tokenUse: "id" }, "i", { token_use: "access" }, deny("token_use")],
    ["access wanted, none given", { tokenUse: "access" }, "i", {}, deny("token_use")],
    ["any: id", { tokenUse: "any" }, "i", { token_use: "id" }, allow],
    ["any: none", { tokenUse: "any" }, "i", {}, allow],

    // Scopes: all required; `scope` string or `scp` list.
    [
      "scope: all held",
      { scopes: ["orders/read", "orders/write"] },
      "i",
      { scope: "openid orders/write orders/read" },
      allow,
    ],
    [
      "scope: one missing",
      { scopes: ["orders/read", "orders/write"] },
      "i",
      { scope: "orders/read" },
      deny("scope"),
    ],
    ["scope: none held", { scopes: ["orders/read"] }, "i", {}, deny("scope")],
    ["scope: empty string", { scopes: ["orders/read"] }, "i", { scope: "" }, deny("scope")],
    [
      "scope: whole words only",
      { scopes: ["orders/read"] },
      "i",
      { scope: "orders/reader xorders/read" },
      deny("scope"),
    ],
    ["scope: case-sensitive", { scopes: ["orders/read"] }, "i", { scope: "Orders/Read" }, deny("scope")],
    ["scope: extra spaces", { scopes: ["a", "b"] }, "i", { scope: "  a   b " }, allow],
    ["scope: comma is no separator", { scopes: ["a"] }, "i", { scope: "a,b" }, deny("scope")],
    ["scp: list", { scopes: ["a", "b"] }, "i", { scp: ["b", "a"] }, allow],
    ["scp: one missing", { scopes: ["a", "b"] }, "i", { scp: ["a"] }, deny("scope")],
    ["scp: non-strings ignored", { scopes: ["1"] }, "i", { scp: [1, true, null] }, deny("scope")],
    ["scp: a string is not a list", { scopes: ["a"] }, "i", { scp: "a" }, deny("scope")],
    ["scope wins over scp", { scopes: ["a"] }, "i", { scope: "b", scp: ["a"] }, deny("scope")],
    ["scope not a string: scp used", { scopes: ["a"] }, "i", { scope: ["x"], scp: ["a"] }, allow],
    ["scope as a list is not read", { scopes: ["a"] }, "i", { scope: ["a"] }, deny("scope")],

    // Groups: any one is enough.
    ["groups: one of them", { groups: ["admin", "staff"] }, "i", { "cognito:groups": ["staff"] }, allow],
    ["groups: both", { groups: ["admin", "staff"] }, "i", { "cognito:groups": ["admin", "staff"] }, allow],
    [
      "groups: others only",
      { groups: ["admin", "staff"] },
      "i",
      { "cognito:groups": ["users"] },
      deny("group"),
    ],
    ["groups: none held", { groups: ["admin"] }, "i", {}, deny("group")],
    ["groups: empty list", { groups: ["admin"] }, "i", { "cognito:groups": [] }, deny("group")],
    [
      "groups: a string is not a list",
      { groups: ["admin"] },
      "i",
      { "cognito:groups": "admin" },
      deny("group"),
    ],
    ["groups: case-sensitive", { groups: ["admin"] }, "i", { "cognito:groups": ["Admin"] }, deny("group")],
    ["groups: other claim names ignored", { groups: ["admin"] }, "i", { groups: ["admin"] }, deny("group")],

    // Claims: exact and type-sensitive.
    ["claim equal", { claims: { "custom:tenant": "acme" } }, "i", { "custom:tenant": "acme" }, allow],
    [
      "claim differs",
      { claims: { "custom:tenant": "acme" } },
      "i",
      { "custom:tenant": "evil" },
      deny("claim"),
    ],
    ["claim absent", { claims: { "custom:tenant": "acme" } }, "i", {}, deny("claim")],
    [
      "claim case-sensitive",
      { claims: { "custom:tenant": "acme" } },
      "i",
      { "custom:tenant": "ACME" },
      deny("claim"),
    ],
    ['"1" is not 1', { claims: { level: 1 } }, "i", { level: "1" }, deny("claim")],
    ['1 is not "1"', { claims: { level: "1" } }, "i", { level: 1 }, deny("claim")],
    ["number equal", { claims: { level: 1 } }, "i", { level: 1 }, allow],
    [
      'true is not "true"',
      { claims: { email_verified: true } },
      "i",
      { email_verified: "true" },
      deny("claim"),
    ],
    ["boolean equal", { claims: { email_verified: true } }, "i", { email_verified: true }, allow],
    ["false is not absent", { claims: { banned: false } }, "i", {}, deny("claim")],
    [
      "a list is not its element",
      { claims: { "custom:tenant": "acme" } },
      "i",
      { "custom:tenant": ["acme"] },
      deny("claim"),
    ],
    ["all claims needed", { claims: { a: "1", b: "2" } }, "i", { a: "1", b: "3" }, deny("claim")],
    ["all claims held", { claims: { a: "1", b: "2" } }, "i", { a: "1", b: "2", c: "x" }, allow],

    // Every rule at once.
    [
      "all rules met",
      { issuers: ["pool"], tokenUse: "access", scopes: ["s"], groups: ["g"], claims: { t: "x" } },
      "pool",
      { token_use: "access", scope: "s", "cognito:groups": ["g"], t: "x" },
      allow,
    ],
  ];
  for (const [name, r, issuer, claims, expected] of cases) {
    t.match(evaluate(rules(r), issuer, claims), expected, name);
  }
});

t.test("evaluate reports the first failing rule: issuer, token use, scope, group, claim", async (t) => {
  const all = rules({
    issuers: ["pool"],
    tokenUse: "access",
    scopes: ["s"],
    groups: ["g"],
    claims: { t: "x" },
  });
  const good = { token_use: "access", scope: "s", "cognito:groups": ["g"], t: "x" };
  const cases: Array<[issuer: string, claims: Claims, reason: string]> = [
    ["other", {}, "issuer_not_allowed"],
    ["pool", { ...good, token_use: "id", scope: "", "cognito:groups": [], t: "y" }, "token_use"],
    ["pool", { ...good, scope: "", "cognito:groups": [], t: "y" }, "scope"],
    ["pool", { ...good, "cognito:groups": [], t: "y" }, "group"],
    ["pool", { ...good, t: "y" }, "claim"],
  ];
  for (const [issuer, claims, reason] of cases) t.match(evaluate(all, issuer, claims), deny(reason), reason);
  t.strictSame(evaluate(all, "pool", good), allow, "all met");
});

t.test("groupsOf", async (t) => {
  t.strictSame(groupsOf({ "cognito:groups": ["a", "b"] }), ["a", "b"]);
  t.strictSame(groupsOf({ "cognito:groups": ["a", 1, null, "b"] }), ["a", "b"]);
  t.strictSame(groupsOf({ "cognito:groups": "a" }), []);
  t.strictSame(groupsOf({}), []);
});

t.test(
  "ruleRefusal: a missing scope names the route's scopes; a claim names itself, never its value",
  async (t) => {
    const r = rules({ scopes: ["orders/read", "orders/write"], claims: { "custom:tenant": "acme" } });
    const scope = evaluate(r, "i", { scope: "orders/read", "custom:tenant": "acme" });
    if (scope.allow) throw new Error("expected a denial");
    const scopeRefusal = ruleRefusal(r, scope);
    t.equal(scopeRefusal.reason, "scope");
    t.equal(scopeRefusal.facts.scope, "orders/read orders/write");
    t.equal(scopeRefusal.rule, "scope");
    const claim = evaluate(r, "i", { scope: "orders/read orders/write", "custom:tenant": "other" });
    if (claim.allow) throw new Error("expected a denial");
    const claimRefusal = ruleRefusal(r, claim);
    t.equal(claimRefusal.rule, "claim:custom:tenant");
    t.notMatch(claimRefusal.message, /other|acme/, "the values stay out of the log detail");
    const group = ruleRefusal(rules({ groups: ["g"] }), { allow: false, reason: "group" });
    t.equal(group.rule, "group");
    t.equal(group.facts.scope, undefined);
  },
);
