import t from "tap";
import { chooseRole } from "../../src/core/aws-role.js";
import type { Claims } from "../../src/core/policy.js";

const ADMIN = "arn:aws:iam::123456789012:role/files-admin";
const EDITOR = "arn:aws:iam::123456789012:role/files-editor";
const PREFERRED = "arn:aws:iam::123456789012:role/preferred";
const FALLBACK = "arn:aws:iam::123456789012:role/files-user";

const byGroup = { admin: ADMIN, editor: EDITOR };

t.test("chooseRole: groups, on both flows", async (t) => {
  const cases: Array<[name: string, claims: Claims, expected: string | undefined]> = [
    ["first group with a role", { "cognito:groups": ["admin", "editor"] }, ADMIN],
    ["token order decides", { "cognito:groups": ["editor", "admin"] }, EDITOR],
    ["groups without a role are skipped", { "cognito:groups": ["readers", "editor"] }, EDITOR],
    ["non-string groups are skipped", { "cognito:groups": [7, null, { admin: 1 }, "editor"] }, EDITOR],
    [
      "a group role beats the preferred role",
      { "cognito:groups": ["admin"], "cognito:preferred_role": PREFERRED },
      ADMIN,
    ],
  ];
  for (const [name, claims, expected] of cases) {
    t.equal(chooseRole(claims, { byGroup, basicFlowDefault: FALLBACK }, "basic"), expected, `basic: ${name}`);
    t.equal(chooseRole(claims, { byGroup }, "enhanced"), expected, `enhanced: ${name}`);
  }
});

t.test("chooseRole: without a group role", async (t) => {
  // [name, claims, role on the enhanced flow, role on the basic flow (default FALLBACK)]
  const cases: Array<[name: string, claims: Claims, enhanced: string | undefined, basic: string]> = [
    [
      "no group role",
      { "cognito:groups": ["readers"], "cognito:preferred_role": PREFERRED },
      PREFERRED,
      FALLBACK,
    ],
    // The basic flow never takes the token's word for a role (any OIDC issuer could put one there).
    ["no groups", { "cognito:preferred_role": PREFERRED }, PREFERRED, FALLBACK],
    ["preferred role not a string", { "cognito:preferred_role": [PREFERRED] }, undefined, FALLBACK],
    ["preferred role empty", { "cognito:preferred_role": "" }, undefined, FALLBACK],
    ["nothing", {}, undefined, FALLBACK],
    ["groups claim not a list", { "cognito:groups": "admin" }, undefined, FALLBACK],
    ["group names are exact", { "cognito:groups": ["Admin"] }, undefined, FALLBACK],
    // Only the map's own keys count: Object.prototype names find nothing.
    ["prototype names", { "cognito:groups": ["constructor", "toString", "__proto__"] }, undefined, FALLBACK],
  ];
  for (const [name, claims, enhanced, basic] of cases) {
    t.equal(chooseRole(claims, { byGroup }, "enhanced"), enhanced, `enhanced: ${name}`);
    // A basicFlowDefault is ignored on the enhanced flow (config validation refuses it there anyway).
    t.equal(
      chooseRole(claims, { byGroup, basicFlowDefault: FALLBACK }, "enhanced"),
      enhanced,
      `enhanced with a default: ${name}`,
    );
    t.equal(chooseRole(claims, { byGroup, basicFlowDefault: FALLBACK }, "basic"), basic, `basic: ${name}`);
    t.equal(chooseRole(claims, { byGroup }, "basic"), undefined, `basic without a default: ${name}`);
    t.equal(
      chooseRole(claims, { byGroup, basicFlowDefault: undefined }, "basic"),
      undefined,
      `basic, default undefined: ${name}`,
    );
  }
});

t.test("chooseRole: the byGroup map", async (t) => {
  const admin: Claims = { "cognito:groups": ["admin"] };
  t.equal(chooseRole(admin, { byGroup: {}, basicFlowDefault: FALLBACK }, "basic"), FALLBACK, "empty byGroup");
  t.equal(chooseRole(admin, { byGroup: {} }, "enhanced"), undefined, "empty byGroup, enhanced");
  // A map built from parsed JSON may hold a "__proto__" own key; it is honoured as a group name.
  const parsed = JSON.parse(`{"__proto__":"${ADMIN}"}`) as Record<string, string>;
  t.equal(
    chooseRole({ "cognito:groups": ["__proto__"] }, { byGroup: parsed }, "enhanced"),
    ADMIN,
    "own __proto__ key",
  );
  // A map without a prototype works too.
  const bare: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, {
    editor: EDITOR,
  });
  t.equal(
    chooseRole({ "cognito:groups": ["toString", "editor"] }, { byGroup: bare }, "basic"),
    EDITOR,
    "prototype-less map",
  );
  // The pool target itself can be passed as `roles`: extra fields are ignored.
  const pool = {
    id: "main",
    flow: "basic" as const,
    byGroup,
    basicFlowDefault: FALLBACK,
    allowGuests: false,
  };
  t.equal(chooseRole({ "cognito:preferred_role": PREFERRED }, pool, pool.flow), FALLBACK, "a pool target");
});
