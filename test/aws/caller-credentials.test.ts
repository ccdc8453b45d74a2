/**
 * A caller's credentials for an AWS route, through the real Cognito Identity SDK client against a
 * protocol-level fake identity service: which calls are made, and the one mapping of every failed
 * exchange to the refusal the caller gets.
 */
import t, { type Test } from "tap";
import { callerCredentials, callerPrefix } from "../../src/aws/caller-credentials.js";
import type { IdentityPoolTarget } from "../../src/aws/pools.js";
import type { Identity } from "../../src/core/identity.js";
import { Refusal } from "../../src/errors.js";
import { type FakeAnswer, fakeService, providerFor } from "../support/moto-aws.js";

const IDENTITY_ID = "us-east-1:11111111-2222-3333-4444-555555555555";
const ROLE = "arn:aws:iam::123456789012:role/admins";

function credentialsAnswer(operation: string): FakeAnswer {
  if (operation === "GetId") return { status: 200, body: { IdentityId: IDENTITY_ID } };
  return {
    status: 200,
    body: {
      IdentityId: IDENTITY_ID,
      Credentials: {
        AccessKeyId: "AKIDFAKE",
        SecretKey: "secret",
        SessionToken: "session",
        Expiration: Date.now() / 1000 + 3600,
      },
    },
  };
}

const fail =
  (type: string, status = 400) =>
  (): FakeAnswer => ({
    status,
    body: { __type: type, message: `${type} from the fake` },
  });

async function poolOf(
  t: Test,
  answer: (operation: string, body: Record<string, unknown>) => FakeAnswer,
  settings: Partial<IdentityPoolTarget> = {},
) {
  const calls: Array<{ operation: string; body: Record<string, unknown> }> = [];
  const { client } = await fakeService(
    t,
    (operation, body) => {
      calls.push({ operation, body });
      return answer(operation, body);
    },
    1,
  );
  const pool: IdentityPoolTarget = {
    id: "pool",
    flow: "enhanced",
    provider: providerFor(client),
    byGroup: {},
    basicFlowDefault: undefined,
    allowGuests: false,
    ...settings,
  };
  return { pool, calls };
}

const user = (claims: Record<string, unknown> = {}): Identity => ({
  issuerId: "pool",
  subject: "user-1",
  claims: {
    iss: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
    sub: "user-1",
    token_use: "id",
    aud: "client-1",
    ...claims,
  },
});

/** The refusal `call` throws or rejects with (a cache hit or a refusal before any call is synchronous). */
async function refusalOf(call: () => unknown): Promise<Refusal> {
  try {
    await call();
  } catch (err) {
    if (err instanceof Refusal) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

t.test("a user's ID token buys credentials; the group's role is asked for", async (t) => {
  const { pool, calls } = await poolOf(t, credentialsAnswer, { byGroup: { admins: ROLE } });
  const credentials = await callerCredentials(
    pool,
    { identity: user({ "cognito:groups": ["admins"] }), token: "id-token" },
    undefined,
  );
  t.equal(credentials.accessKeyId, "AKIDFAKE");
  t.equal(credentials.identityId, IDENTITY_ID);
  t.strictSame(
    calls.map((c) => c.operation),
    ["GetId", "GetCredentialsForIdentity"],
  );
  t.equal(calls[1]?.body.CustomRoleArn, ROLE);
  t.strictSame(calls[0]?.body.Logins, { "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc": "id-token" });
});

t.test("refusals made before any call", async (t) => {
  const { pool, calls } = await poolOf(t, credentialsAnswer);
  const guest = await refusalOf(() =>
    callerCredentials(pool, { identity: undefined, token: undefined }, undefined),
  );
  t.equal(guest.reason, "missing", "a guest where the pool takes none");
  t.equal(guest.status, 401);
  const access = await refusalOf(() =>
    callerCredentials(pool, { identity: user({ token_use: "access" }), token: "t" }, undefined),
  );
  t.equal(access.reason, "token_use", "identity pools take ID tokens");
  t.equal(access.status, 403);
  const basic = { ...pool, flow: "basic" as const, basicFlowDefault: ROLE };
  const slash = await refusalOf(() =>
    callerCredentials(basic, { identity: { ...user(), subject: "a/b" }, token: "t" }, "home/{sub}/"),
  );
  t.equal(slash.reason, "outside_prefix", "a sub that cannot name a folder has no prefix");
  t.equal(calls.length, 0, "nothing reached the identity pool");
});

t.test("a token without token_use (another OIDC issuer) goes to the pool", async (t) => {
  const { pool, calls } = await poolOf(t, credentialsAnswer);
  const identity = user();
  const { token_use: _dropped, ...claims } = identity.claims;
  await callerCredentials(pool, { identity: { ...identity, claims }, token: "t" }, undefined);
  t.equal(calls.length, 2);
});

t.test("guests take the pool's guest identity where it allows them", async (t) => {
  const { pool, calls } = await poolOf(t, credentialsAnswer, { allowGuests: true });
  const credentials = await callerCredentials(pool, { identity: undefined, token: undefined }, undefined);
  t.equal(credentials.accessKeyId, "AKIDFAKE");
  t.equal(calls[0]?.body.Logins, undefined, "no login for a guest");
});

t.test("every failed exchange maps to one refusal", async (t) => {
  const cases: Array<
    [type: string, status: number, reason: string, answer: number, retry: number | undefined]
  > = [
    ["NotAuthorizedException", 400, "credentials_invalid", 401, undefined],
    ["TooManyRequestsException", 400, "credentials_throttled", 503, 1],
    ["ResourceNotFoundException", 400, "credentials_unavailable", 503, undefined],
    ["InternalErrorException", 500, "credentials_unavailable", 503, undefined],
  ];
  for (const [type, status, reason, answer, retry] of cases) {
    const { pool } = await poolOf(t, fail(type, status));
    const refusal = await refusalOf(() =>
      callerCredentials(pool, { identity: user(), token: "t" }, undefined),
    );
    t.equal(refusal.reason, reason, type);
    t.equal(refusal.status, answer, `${type} status`);
    t.equal(refusal.retryAfterSeconds, retry, `${type} Retry-After`);
    t.notMatch(refusal.answer.message, type, "the answer names no AWS error");
  }
});

t.test("callerPrefix: a value that cannot name a folder is refused as outside the prefix", async (t) => {
  t.equal(callerPrefix("home/{identityId}/{sub}/", IDENTITY_ID, "u1"), `home/${IDENTITY_ID}/u1/`);
  for (const sub of ["", ".", "..", "a/b", "a\u0000b"]) {
    t.throws(() => callerPrefix("home/{sub}/", IDENTITY_ID, sub), {
      name: "Refusal",
      reason: "outside_prefix",
    });
  }
});
