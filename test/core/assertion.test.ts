import t from "tap";
import { albLayout, assertionClaims, assertionTimes, clientOf } from "../../src/core/assertion.js";
import type { Identity } from "../../src/core/identity.js";

const ID_TOKEN: Identity = {
  issuerId: "pool",
  subject: "u-1",
  claims: {
    iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X",
    sub: "u-1",
    aud: "client-1",
    token_use: "id",
    "cognito:username": "alice",
    "cognito:groups": ["admin", 7, "billing"],
    email: "alice@example.com",
    email_verified: true,
    exp: 2000,
  },
};
const ACCESS_TOKEN: Identity = {
  issuerId: "pool",
  subject: "u-2",
  claims: { sub: "u-2", client_id: "client-2", username: "bob", token_use: "access", exp: 2000 },
};

t.test("times: the sooner of the lifetime and the token's exp; reused for half", async (t) => {
  const cases: Array<[string, number, number, unknown, { iat: number; exp: number; reuseUntil: number }]> = [
    ["the full lifetime", 1000.7, 60, 5000, { iat: 1000, exp: 1060, reuseUntil: 1030 }],
    ["the token ends sooner", 1000, 60, 1020, { iat: 1000, exp: 1020, reuseUntil: 1010 }],
    ["a token inside the skew leeway: one second", 1000, 60, 990, { iat: 1000, exp: 1001, reuseUntil: 1000 }],
    ["no exp on the token", 1000, 30, undefined, { iat: 1000, exp: 1030, reuseUntil: 1015 }],
    ["a non-numeric exp", 1000, 30, "1010", { iat: 1000, exp: 1030, reuseUntil: 1015 }],
  ];
  for (const [name, now, lifetime, exp, expected] of cases)
    t.strictSame(assertionTimes(now, lifetime, exp), expected, name);
});

t.test("cupbearer's claims", async (t) => {
  const times = assertionTimes(1000, 60, 2000);
  t.strictSame(assertionClaims(ID_TOKEN, "https://cb", "app", times), {
    iss: "https://cb",
    aud: "app",
    sub: "u-1",
    groups: ["admin", "billing"],
    email: "alice@example.com",
    username: "alice",
    token_iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X",
    token_use: "id",
    iat: 1000,
    exp: 1060,
  });
  t.strictSame(
    assertionClaims(ACCESS_TOKEN, "https://cb", "app", times),
    {
      iss: "https://cb",
      aud: "app",
      sub: "u-2",
      groups: [],
      username: "bob",
      token_use: "access",
      iat: 1000,
      exp: 1060,
    },
    "absent claims are left out; groups is always a list",
  );
});

t.test("ALB's layout", async (t) => {
  const times = assertionTimes(1000, 60, 2000);
  t.strictSame(albLayout(ID_TOKEN, "https://cb", times), {
    header: {
      signer: "https://cb",
      iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X",
      client: "client-1",
      exp: 1060,
    },
    payload: {
      sub: "u-1",
      email: "alice@example.com",
      email_verified: "true",
      username: "alice",
      exp: 1060,
      iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X",
    },
  });
  t.strictSame(albLayout(ACCESS_TOKEN, "https://cb", times), {
    header: { signer: "https://cb", client: "client-2", exp: 1060 },
    payload: { sub: "u-2", username: "bob", exp: 1060 },
  });
  const stringVerified = { ...ID_TOKEN, claims: { ...ID_TOKEN.claims, email_verified: "false" } };
  t.equal(albLayout(stringVerified, "s", times).payload.email_verified, "false");
  const oddVerified = { ...ID_TOKEN, claims: { ...ID_TOKEN.claims, email_verified: "maybe" } };
  t.notOk("email_verified" in albLayout(oddVerified, "s", times).payload);
});

t.test("the client: client_id, else the first aud", async (t) => {
  const claims = (c: Record<string, unknown>): Identity => ({ issuerId: "p", subject: "s", claims: c });
  t.equal(clientOf(claims({ client_id: "a", aud: "b" })), "a");
  t.equal(clientOf(claims({ aud: ["b", "c"] })), "b");
  t.equal(clientOf(claims({ aud: "b" })), "b");
  t.equal(clientOf(claims({ aud: [] })), undefined);
  t.equal(clientOf(claims({ client_id: "" })), undefined);
});
