import t from "tap";
import {
  EMAIL_HEADER,
  GROUPS_HEADER,
  headerValue,
  type Identity,
  identityHeaders,
  STANDARD_IDENTITY_HEADERS,
  USER_HEADER,
} from "../../src/core/identity.js";

t.test("the standard header names", async (t) => {
  t.equal(USER_HEADER, "x-auth-request-user");
  t.equal(EMAIL_HEADER, "x-auth-request-email");
  t.equal(GROUPS_HEADER, "x-auth-request-groups");
  t.strictSame([...STANDARD_IDENTITY_HEADERS], [USER_HEADER, EMAIL_HEADER, GROUPS_HEADER]);
});

t.test("identityHeaders: sub, email, groups, then claim headers in order", async (t) => {
  const identity: Identity = {
    issuerId: "pool",
    subject: "7d8ca528-4931-4254-9273-ea5ee853f271",
    claims: {
      sub: "ignored: the subject field is used",
      email: "ana@example.com",
      "cognito:groups": ["admin", "staff"],
      "custom:tenant": "acme",
      level: 3,
      verified: false,
    },
  };
  const claimHeaders: Array<[string, string]> = [
    ["x-tenant", "custom:tenant"],
    ["x-missing", "custom:nothing"],
    ["x-level", "level"],
    ["x-verified", "verified"],
    ["x-issuer-free", "iss"],
  ];
  t.strictSame(identityHeaders(identity, claimHeaders), [
    ["x-auth-request-user", "7d8ca528-4931-4254-9273-ea5ee853f271"],
    ["x-auth-request-email", "ana@example.com"],
    ["x-auth-request-groups", "admin,staff"],
    ["x-tenant", "acme"],
    ["x-level", "3"],
    ["x-verified", "false"],
  ]);
});

t.test("identityHeaders: absent claims give no header", async (t) => {
  const cases: Array<[name: string, claims: Record<string, unknown>, expected: Array<[string, string]>]> = [
    ["no claims", {}, [["x-auth-request-user", "u"]]],
    ["null email", { email: null }, [["x-auth-request-user", "u"]]],
    ["empty groups", { "cognito:groups": [] }, [["x-auth-request-user", "u"]]],
    ["groups not a list", { "cognito:groups": "admin" }, [["x-auth-request-user", "u"]]],
    ["groups without strings", { "cognito:groups": [1, null] }, [["x-auth-request-user", "u"]]],
    [
      "groups: non-strings dropped",
      { "cognito:groups": ["a", 2, "b"] },
      [
        ["x-auth-request-user", "u"],
        ["x-auth-request-groups", "a,b"],
      ],
    ],
    ["null claim for a claim header", { "custom:tenant": null }, [["x-auth-request-user", "u"]]],
  ];
  for (const [name, claims, expected] of cases) {
    t.strictSame(
      identityHeaders({ issuerId: "i", subject: "u", claims }, [["x-tenant", "custom:tenant"]]),
      expected,
      name,
    );
  }
});

t.test("identityHeaders: values are encoded like headerValue", async (t) => {
  const headers = identityHeaders(
    { issuerId: "i", subject: "u\r\nx-injected: 1", claims: { email: "zoë@example.com" } },
    [],
  );
  t.strictSame(headers, [
    ["x-auth-request-user", "u%0D%0Ax-injected: 1"],
    ["x-auth-request-email", "zo%C3%AB@example.com"],
  ]);
});

t.test("headerValue", async (t) => {
  const cases: Array<[name: string, value: unknown, expected: string | undefined]> = [
    ["undefined", undefined, undefined],
    ["null", null, undefined],
    ["plain", "plain", "plain"],
    ["empty string", "", ""],
    ["spaces and punctuation", 'a b "c" <d> {e}', 'a b "c" <d> {e}'],
    ["CR LF", "a\r\nb", "a%0D%0Ab"],
    ["LF alone", "a\nb", "a%0Ab"],
    ["tab", "a\tb", "a%09b"],
    ["NUL", "\u0000", "%00"],
    ["DEL", "\u007f", "%7F"],
    ["percent", "100%", "100%25"],
    ["percent-looking text", "%41", "%2541"],
    ["Latin-1", "é", "%C3%A9"],
    ["astral", "\u{1f600}", "%F0%9F%98%80"],
    ["mixed", "Zoë 100%\n", "Zo%C3%AB 100%25%0A"],
    ["number", 5, "5"],
    ["zero", 0, "0"],
    ["fraction", 1.5, "1.5"],
    ["negative", -2, "-2"],
    ["true", true, "true"],
    ["false", false, "false"],
    ["list of strings", ["a", "b"], "a,b"],
    ["empty list", [], ""],
    ["mixed list", [1, "x", null, true, { k: 1 }, ["y"]], '1,x,null,true,{"k":1},["y"]'],
    ["list with a newline", ["a\n", "b"], "a%0A,b"],
    ["object", { a: 1, b: "c" }, '{"a":1,"b":"c"}'],
    ["object with non-ASCII", { a: "é" }, '{"a":"%C3%A9"}'],
    ["object with escaped newline", { a: "x\ny" }, '{"a":"x\\ny"}'],
  ];
  for (const [name, value, expected] of cases) t.equal(headerValue(value), expected, name);
});

t.test("headerValue keeps every printable ASCII character but %", async (t) => {
  let printable = "";
  for (let c = 0x20; c <= 0x7e; c++) printable += String.fromCharCode(c);
  t.equal(headerValue(printable), printable.replace("%", "%25"));
  t.equal(headerValue(printable.replace("%", "")), printable.replace("%", ""));
  for (let c = 0; c < 0x20; c++) {
    const expected = `%${c.toString(16).toUpperCase().padStart(2, "0")}`;
    t.equal(headerValue(String.fromCharCode(c)), expected, `control 0x${c.toString(16)}`);
  }
});

t.test("headerValue: a list element holding a comma stays one element", {}, async (t) => {
  t.not(headerValue(["admin,x"]), headerValue(["admin", "x"]));
  t.equal(headerValue(["admin,x", "y"]), "admin%2Cx,y");
});
