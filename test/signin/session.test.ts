/**
 * Refreshing stored sign-ins against the protocol-level fake: SECRET_HASH and the remembered
 * device on REFRESH_TOKEN_AUTH, rotated refresh tokens, refused and malformed answers.
 */

import { join } from "node:path";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import t, { type Test } from "tap";
import { signIn } from "../../src/signin/flow.js";
import { SignInError } from "../../src/signin/messages.js";
import type { Prompter } from "../../src/signin/prompter.js";
import { expiryOf, freshSession, regionOf, whereOf } from "../../src/signin/session.js";
import { type StoredSession, TokenStore } from "../../src/signin/store.js";
import { FakeCognito } from "../support/fake-cognito.js";
import { tempHome } from "../support/signin-cli.js";

const PASSWORD = "Corr3ct-horse!";
const SECRET = "client-secret";

const answers = (password: string, code: string): Prompter => ({
  ask: async (q) => (q.kind === "password" ? password : code),
  say: () => undefined,
});

/** A fake with a client secret and device tracking, a user signed in and stored about to expire. */
async function stored(t: Test) {
  const f = new FakeCognito({ clientSecret: SECRET, trackDevices: true });
  await f.start();
  t.teardown(() => f.stop());
  f.addUser({ username: "ann", password: PASSWORD, mfa: "SMS_MFA" });
  const client = new CognitoIdentityProviderClient({
    endpoint: f.endpoint,
    region: "us-east-1",
    maxAttempts: 1,
  });
  t.teardown(() => client.destroy());
  const result = await signIn({
    client,
    userPoolId: f.userPoolId,
    clientId: f.clientId,
    clientSecret: SECRET,
    username: "ann",
    flow: "srp",
    prompter: answers(PASSWORD, f.smsCode),
    where: f.endpoint,
  });
  const store = new TokenStore(join(tempHome(), "cupbearer"));
  const session: StoredSession = {
    version: 1,
    userPoolId: f.userPoolId,
    clientId: f.clientId,
    username: result.username,
    region: "us-east-1",
    endpoint: f.endpoint,
    clientSecret: SECRET,
    idToken: result.idToken,
    accessToken: result.accessToken,
    refreshToken: result.refreshToken,
    expiresAt: Date.now() + 60_000,
    device: result.device,
  };
  store.write(session);
  return { f, store, session };
}

t.test(
  "a refresh sends SECRET_HASH and the remembered device, and keeps or rotates the refresh token",
  async (t) => {
    const { f, store, session } = await stored(t);
    const first = await freshSession(store, session);
    t.equal(first.refreshed, true);
    t.equal(f.lastRefreshDevice, session.device?.key, "DEVICE_KEY with the refresh");
    t.equal(first.session.refreshToken, session.refreshToken, "kept");
    const again = await freshSession(store, session);
    t.equal(again.refreshed, false, "fresh now");
    f.refreshMode = "rotate";
    const rotated = await freshSession(store, session, { minValidMs: 24 * 3600_000 });
    t.not(rotated.session.refreshToken, session.refreshToken, "a rotated refresh token is stored");
    t.equal(store.read(session)?.refreshToken, rotated.session.refreshToken);
  },
);

t.test("refused and malformed refresh answers are said plainly", async (t) => {
  const { f, store, session } = await stored(t);
  f.refreshMode = "empty";
  await t.rejects(
    freshSession(store, session),
    new SignInError("Cognito's refresh answer lacks the ID or access token: run cupbearer login again"),
  );
  f.refreshMode = "normal";
  store.update({ ...session, refreshToken: "revoked" });
  await t.rejects(freshSession(store, session), {
    message: "the stored sign-in is no longer valid (expired or revoked): run cupbearer login again",
  });
  store.remove(session);
  await t.rejects(freshSession(store, session), {
    message: "no stored sign-in for ann: run cupbearer login first",
  });
  t.equal(store.current(), undefined, "forgetting the current sign-in forgets the pointer");
});

t.test("expiry, regions and where Cognito is", async (t) => {
  t.equal(expiryOf("not-a-jwt", "x.e30.y", 42), 42, "no exp: the fallback");
  const jwt = (exp: number) => `x.${Buffer.from(JSON.stringify({ exp })).toString("base64url")}.y`;
  t.equal(expiryOf(jwt(200), jwt(100), 0), 100_000, "the earlier of the two");
  t.equal(regionOf("eu-west-1_Abc"), "eu-west-1");
  t.throws(() => regionOf("_Abc"), /not a user pool id/);
  t.equal(whereOf({ region: "eu-west-1" }), "cognito-idp.eu-west-1.amazonaws.com");
  t.equal(whereOf({ region: "x", endpoint: "http://127.0.0.1:1" }), "http://127.0.0.1:1");
});
