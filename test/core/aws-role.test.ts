import t from "tap";
import { chooseRole } from "../../src/core/aws-role.js";
import type { Claims } from "../../src/core/policy.js";

const ADMIN = "arn:aws:iam::123456789012:role/files-admin";
const EDITOR = "arn:aws:iam::123456789012:role/files-editor";
const PREFERRED = "arn:aws:iam::123456789012:role/preferred";
const FALLBACK = "arn:aws:iam::123456789012:role/files-user";

const byGroup = { admin: ADMIN, editor: EDITOR };

t.test("chooseRole", async (t) => {
  const cases: Array<
    [name: string, claims: Claims, fallback: string | undefined, expected: string | undefined]
  > = [
    ["first group with a role", { "cognito:groups": ["admin", "editor"] }, FALLBACK, ADMIN],
    ["token order decides", { "cognito:groups": ["editor", "admin"] }, FALLBACK, EDITOR],
    ["groups without a role are skipped", { "cognito:groups": ["readers", "editor"] }, FALLBACK, EDITOR],
    [
      "non-string groups are skipped",
      { "cognito:groups": [7, null, { admin: 1 }, "editor"] },
      FALLBACK,
      EDITOR,
    ],
    [
      "a group role beats the preferred role",
      { "cognito:groups": ["admin"], "cognito:preferred_role": PREFERRED },
      FALLBACK,
      ADMIN,
    ],
    [
      "no group role: the preferred role",
      { "cognito:groups": ["readers"], "cognito:preferred_role": PREFERRED },
      FALLBACK,
      PREFERRED,
    ],
    ["no groups: the preferred role", { "cognito:preferred_role": PREFERRED }, undefined, PREFERRED],
    ["preferred role not a string", { "cognito:preferred_role": [PREFERRED] }, FALLBACK, FALLBACK],
    ["preferred role empty", { "cognito:preferred_role": "" }, FALLBACK, FALLBACK],
    ["nothing: the fallback", {}, FALLBACK, FALLBACK],
    ["nothing and no fallback", {}, undefined, undefined],
    ["groups claim not a list", { "cognito:groups": "admin" }, FALLBACK, FALLBACK],
    ["group names are exact", { "cognito:groups": ["Admin"] }, undefined, undefined],
    // Only the map's own keys count: Object.prototype names find nothing.
    ["prototype names", { "cognito:groups": ["constructor", "toString", "__proto__"] }, FALLBACK, FALLBACK],
  ];
  for (const [name, claims, fallback, expected] of cases) {
    t.equal(chooseRole(claims, byGroup, fallback), expected, name);
  }
  t.equal(chooseRole({ "cognito:groups": ["admin"] }, {}, FALLBACK), FALLBACK, "empty byGroup");
  // A map built from parsed JSON may hold a "__proto__" own key; it is honoured as a group name.
  const parsed = JSON.parse(`{"__proto__":"${ADMIN}"}`) as Record<string, string>;
  t.equal(chooseRole({ "cognito:groups": ["__proto__"] }, parsed), ADMIN, "own __proto__ key");
  // A map without a prototype works too.
  const bare: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, {
    editor: EDITOR,
  });
  t.equal(chooseRole({ "cognito:groups": ["toString", "editor"] }, bare), EDITOR, "prototype-less map");
});
