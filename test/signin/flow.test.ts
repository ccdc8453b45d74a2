/**
 * The sign-in engine driven by the real SDK client against the protocol-level fake (which checks
 * SRP claims from a stored verifier): every challenge, remembered devices, throttling, and the
 * message of each failure.
 */
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import t, { type Test } from "tap";
import { jwtClaims, type LoginFlow, listParameter, signIn, usernameOf } from "../../src/signin/flow.js";
import { explain, SignInError } from "../../src/signin/messages.js";
import type { Prompter, Question } from "../../src/signin/prompter.js";
import type { RememberedDevice } from "../../src/signin/store.js";
import { FakeCognito, type FakeCognitoOptions } from "../support/fake-cognito.js";
import { totp } from "../support/totp.js";

t.setTimeout(120_000);

/** A prompter answering from a script, by question kind, and recording what was asked and said. */
class Scripted implements Prompter {
  readonly asked: Question[] = [];
  readonly said: string[] = [];
  constructor(private readonly answers: Partial<Record<Question["kind"], Array<string | (() => string)>>>) {}
  async ask(question: Question): Promise<string> {
    this.asked.push(question);
    const next = this.answers[question.kind]?.shift();
    if (next === undefined) throw new SignInError(`no scripted answer for ${question.kind}`);
    return typeof next === "function" ? next() : next;
  }
  say(text: string): void {
    this.said.push(text);
  }
}

async function fake(t: Test, options: FakeCognitoOptions = {}): Promise<FakeCognito> {
  const f = new FakeCognito(options);
  await f.start();
  t.teardown(() => f.stop());
  return f;
}

function client(t: Test, f: FakeCognito, maxAttempts = 1): CognitoIdentityProviderClient {
  const c = new CognitoIdentityProviderClient({
    endpoint: f.endpoint,
    region: "us-east-1",
    maxAttempts,
    // Fast retries: the throttling test's back-off must not take seconds.
    retryStrategy: undefined,
  });
  t.teardown(() => c.destroy());
  return c;
}

function run(
  t: Test,
  f: FakeCognito,
  prompter: Prompter,
  username: string,
  flow: LoginFlow = "srp",
  extra: { device?: RememberedDevice; clientSecret?: string; maxAttempts?: number; maxRounds?: number } = {},
) {
  return signIn({
    client: client(t, f, extra.maxAttempts),
    userPoolId: f.userPoolId,
    clientId: f.clientId,
    clientSecret: extra.clientSecret,
    username,
    flow,
    prompter,
    device: extra.device,
    where: f.endpoint,
    maxRounds: extra.maxRounds,
  });
}

const PASSWORD = "Corr3ct-horse!";

t.test("SRP: the fake checks the password claim; a wrong password is refused", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "alice", password: PASSWORD });
  const ok = await run(t, f, new Scripted({ password: [PASSWORD] }), "alice");
  t.equal(usernameOf(ok.accessToken), "alice");
  t.ok(ok.refreshToken, "a refresh token");
  t.equal(ok.device, undefined, "no device tracking, no device");
  t.same(f.calls, ["InitiateAuth", "RespondToAuthChallenge"], "the password itself is never sent");
  const err = await run(t, f, new Scripted({ password: ["wrong"] }), "alice").catch((e: unknown) => e);
  t.ok(err instanceof SignInError);
  t.equal((err as SignInError).message, "wrong username or password");
});

t.test("password flow and SECRET_HASH on every call", async (t) => {
  const f = await fake(t, { clientSecret: "the-client-secret" });
  f.addUser({ username: "bob", password: PASSWORD, mfa: "SMS_MFA" });
  const p = new Scripted({ password: [PASSWORD], code: [f.smsCode] });
  const ok = await run(t, f, p, "bob", "password", { clientSecret: "the-client-secret" });
  t.equal(usernameOf(ok.accessToken), "bob");
  t.match(p.asked[1]?.label, /SMS to \+\*+0199/, "the SMS prompt says where the code went");
  t.equal(p.asked[1]?.secret, true, "codes are not echoed");
  const noSecret = await run(t, f, new Scripted({ password: [PASSWORD] }), "bob", "password").catch(
    (e: unknown) => e,
  );
  t.match((noSecret as Error).message, /the app client has a secret: pass --client-secret/);
});

t.test("NEW_PASSWORD_REQUIRED with a required attribute, then TOTP MFA", async (t) => {
  const f = await fake(t);
  f.addUser({
    username: "carol",
    password: "Temp0rary!",
    status: "FORCE_CHANGE_PASSWORD",
    requiredAttributes: ["name"],
    mfa: "SOFTWARE_TOKEN_MFA",
    totpSecret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
  });
  const p = new Scripted({
    password: ["Temp0rary!"],
    "new-password": ["N3w-password!", "N3w-password!"],
    attribute: ["Carol C."],
    code: [() => totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")],
  });
  const ok = await run(t, f, p, "carol");
  t.equal(usernameOf(ok.idToken) ?? "carol", "carol");
  t.same(
    p.asked.map((q) => q.kind),
    ["password", "new-password", "new-password", "attribute", "code"],
  );
  t.match(p.asked[3]?.label, /name/);
  t.equal(f.users.get("carol")?.attributes.name, "Carol C.");
  t.equal(f.users.get("carol")?.status, "CONFIRMED");
  // The new password now signs in by SRP: the fake derived a new verifier from it.
  await run(
    t,
    f,
    new Scripted({ password: ["N3w-password!"], code: [() => totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")] }),
    "carol",
  );

  const mismatch = new Scripted({ password: ["N3w-password!"], "new-password": ["a", "b"] });
  const carol = f.users.get("carol");
  if (carol) carol.status = "FORCE_CHANGE_PASSWORD";
  const err = await run(t, f, mismatch, "carol").catch((e: unknown) => e);
  t.match((err as Error).message, /the two new passwords differ/);
  const weak = await run(
    t,
    f,
    new Scripted({ password: ["N3w-password!"], "new-password": ["short", "short"], attribute: ["C"] }),
    "carol",
  ).catch((e: unknown) => e);
  t.match((weak as Error).message, /not accepted by the pool's password policy: Password does not conform/);
});

t.test("RFC 6238's test vector, so the codes above are an authenticator's", async (t) => {
  // Secret "12345678901234567890", T = 59 s: 94287082, whose last six digits are the 6-digit code.
  t.equal(totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59_000), "287082");
});

t.test("SELECT_MFA_TYPE, then a wrong and a right SMS code", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "dan", password: PASSWORD, mfa: "CHOOSE" });
  const p = new Scripted({ password: [PASSWORD], choice: ["1"], code: [f.smsCode] });
  await run(t, f, p, "dan");
  t.same(p.asked[1]?.choices, ["SMS_MFA", "SOFTWARE_TOKEN_MFA"]);
  const wrong = await run(
    t,
    f,
    new Scripted({ password: [PASSWORD], choice: ["sms_mfa"], code: ["000000"] }),
    "dan",
  ).catch((e: unknown) => e);
  t.equal((wrong as Error).message, "wrong code: sign in again and type the current code");
  const bad = await run(
    t,
    f,
    new Scripted({ password: [PASSWORD], choice: ["carrier pigeon"] }),
    "dan",
  ).catch((e: unknown) => e);
  t.match((bad as Error).message, /"carrier pigeon" is not one of: SMS_MFA, SOFTWARE_TOKEN_MFA/);
});

t.test("MFA_SETUP: the otpauth URI and a QR code are shown, the app's code verified", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "erin", password: PASSWORD, mfa: "SETUP" });
  const p = new Scripted({ password: [PASSWORD], code: [() => totp(f.users.get("erin")?.totpSecret ?? "")] });
  const ok = await run(t, f, p, "erin");
  t.ok(ok.accessToken);
  const shown = p.said.join("\n");
  t.match(
    shown,
    /otpauth:\/\/totp\/Cognito%20us-east-1_FakePool1:erin\?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=/,
  );
  t.match(shown, /[▀▄█]{20}/, "a QR code drawn in block characters");
  t.equal(f.users.get("erin")?.mfa, "SOFTWARE_TOKEN_MFA", "TOTP is now the user's MFA");
  const erin = f.users.get("erin");
  if (erin) erin.mfa = "SETUP";
  const wrong = await run(t, f, new Scripted({ password: [PASSWORD], code: ["000000"] }), "erin").catch(
    (e: unknown) => e,
  );
  t.match((wrong as Error).message, /authenticator app's code was not accepted/);
});

t.test("MFA_SETUP a terminal cannot do (SMS or email only) is said, naming the way out", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "sms", password: PASSWORD, mfa: "SETUP_SMS_ONLY" });
  const failed = await run(t, f, new Scripted({ password: [PASSWORD] }), "sms").catch((e: unknown) => e);
  t.ok(failed instanceof SignInError, "a sign-in error, not a crash");
  t.match(
    (failed as Error).message,
    /MFA by SMS_MFA or EMAIL_OTP, which cupbearer cannot do from a terminal/,
  );
  t.match((failed as Error).message, /hosted UI/);
});

t.test("a passkey, or a challenge this version does not know, is said plainly", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "pk", password: PASSWORD, mfa: "PASSKEY" });
  f.addUser({ username: "new", password: PASSWORD, mfa: "FUTURE" });
  const passkey = await run(t, f, new Scripted({ password: [PASSWORD] }), "pk").catch((e: unknown) => e);
  t.match((passkey as Error).message, /passkey \(WEB_AUTHN\), which a terminal cannot provide/);
  const future = await run(t, f, new Scripted({ password: [PASSWORD] }), "new").catch((e: unknown) => e);
  t.match((future as Error).message, /challenge this version does not know: A_CHALLENGE_FROM_THE_FUTURE/);
});

t.test("custom challenges over three rounds (CUSTOM_AUTH), and a bound on rounds", async (t) => {
  const f = await fake(t);
  const custom = [
    { question: "What is 1+1?", answer: "2" },
    { question: "Capital of France?", answer: "Paris" },
    { question: "Favourite colour?", answer: "blue" },
  ];
  f.addUser({ username: "frank", password: PASSWORD, custom });
  const p = new Scripted({ answer: ["2", "Paris", "blue"] });
  const ok = await run(t, f, p, "frank", "custom");
  t.ok(ok.accessToken);
  t.same(
    p.asked.map((q) => q.label),
    custom.map((c) => c.question),
    "each round's question is its prompt",
  );
  t.ok(p.said.includes("round: 2"), "other parameters are shown");
  const wrong = await run(t, f, new Scripted({ answer: ["2", "Lyon"] }), "frank", "custom").catch(
    (e: unknown) => e,
  );
  t.equal((wrong as Error).message, "wrong username or password");
  const bounded = await run(t, f, new Scripted({ answer: ["2", "Paris", "blue"] }), "frank", "custom", {
    maxRounds: 2,
  }).catch((e: unknown) => e);
  t.match((bounded as Error).message, /more than 2 challenges/);
});

t.test("USER_AUTH: SELECT_CHALLENGE offers what a terminal can do", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "gina", password: PASSWORD });
  const srp = new Scripted({ choice: ["PASSWORD_SRP"], password: [PASSWORD] });
  await run(t, f, srp, "gina", "user-auth");
  t.same(srp.asked[0]?.choices, ["PASSWORD", "PASSWORD_SRP", "EMAIL_OTP"], "no passkeys in a terminal");
  await run(t, f, new Scripted({ choice: ["1"], password: [PASSWORD] }), "gina", "user-auth");
  const email = new Scripted({ choice: ["EMAIL_OTP"], code: [f.emailCode] });
  await run(t, f, email, "gina", "user-auth");
  t.match(email.asked[1]?.label, /Code sent by email to a\*\*\*@e\*\*\*/);
  const wrongSrp = await run(
    t,
    f,
    new Scripted({ choice: ["2"], password: ["nope"] }),
    "gina",
    "user-auth",
  ).catch((e: unknown) => e);
  t.equal((wrongSrp as Error).message, "wrong username or password");
});

t.test(
  "remembered devices: ConfirmDevice at the first sign-in, device SRP instead of MFA after",
  async (t) => {
    const f = await fake(t, { trackDevices: true });
    f.addUser({ username: "hugo", password: PASSWORD, mfa: "SMS_MFA" });
    const first = await run(t, f, new Scripted({ password: [PASSWORD], code: [f.smsCode] }), "hugo");
    const device = first.device;
    if (device === undefined) throw new Error("no device");
    t.ok(f.devices.get(device.key)?.remembered, "confirmed and remembered");
    t.ok(f.calls.includes("ConfirmDevice") && f.calls.includes("UpdateDeviceStatus"));
    f.calls.length = 0;
    const p = new Scripted({ password: [PASSWORD] });
    const second = await run(t, f, p, "hugo", "srp", { device });
    t.same(
      p.asked.map((q) => q.kind),
      ["password"],
      "no SMS code: the device stood in for it",
    );
    t.same(f.calls, [
      "InitiateAuth",
      "RespondToAuthChallenge",
      "RespondToAuthChallenge",
      "RespondToAuthChallenge",
    ]);
    t.equal(second.device?.key, device.key);
    // A device password that is not the confirmed one fails the device claim.
    const forged = await run(t, f, new Scripted({ password: [PASSWORD] }), "hugo", "srp", {
      device: { ...device, password: "not-the-device-password" },
    }).catch((e: unknown) => e);
    t.equal((forged as Error).message, "wrong username or password");
  },
);

t.test("throttling: retried by the SDK, then said plainly", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "ida", password: PASSWORD });
  f.throttle = 1;
  await run(t, f, new Scripted({ password: [PASSWORD] }), "ida", "srp", { maxAttempts: 3 });
  t.equal(f.calls.filter((c) => c === "InitiateAuth").length, 2, "one throttled, one retried");
  f.throttle = 10;
  const err = await run(t, f, new Scripted({ password: [PASSWORD] }), "ida", "srp", { maxAttempts: 2 }).catch(
    (e: unknown) => e,
  );
  t.equal(
    (err as Error).message,
    "Cognito is throttling requests (too many too fast): wait a minute and try again",
  );
  f.throttle = 0;
});

// Each error Cognito can answer a sign-in with, through the real SDK, and what the user reads.
const ERRORS: Array<[string, string, RegExp, LoginFlow?]> = [
  ["NotAuthorizedException", "Incorrect username or password.", /^wrong username or password$/],
  ["NotAuthorizedException", "Password attempts exceeded", /^too many failed attempts/],
  ["NotAuthorizedException", "User is disabled.", /^the user is disabled/],
  ["NotAuthorizedException", "Invalid session for the user, session is expired.", /took too long/],
  ["UserNotFoundException", "User does not exist.", /^wrong username or password$/],
  ["UserNotConfirmedException", "User is not confirmed.", /has not confirmed the sign-up/],
  ["PasswordResetRequiredException", "Password reset required for the user", /must be reset first/],
  ["TooManyFailedAttemptsException", "Too many", /too many failed attempts/],
  ["LimitExceededException", "Attempt limit exceeded", /throttling/],
  [
    "ResourceNotFoundException",
    "User pool client x does not exist.",
    /does not know this user pool or app client/,
  ],
  [
    "InvalidParameterException",
    "USER_PASSWORD_AUTH flow not enabled for this client",
    /add ALLOW_USER_PASSWORD_AUTH to its authentication flows/,
    "password",
  ],
  ["InvalidParameterException", "USER_SRP_AUTH is not enabled for the client.", /add ALLOW_USER_SRP_AUTH/],
  ["NotAuthorizedException", "Auth flow not enabled for this client", /add ALLOW_USER_AUTH/, "user-auth"],
  [
    "InvalidParameterException",
    "1 validation error detected",
    /Cognito refused a parameter: 1 validation error/,
  ],
  ["ExpiredCodeException", "Invalid code provided", /code has expired/],
  [
    "InvalidUserPoolConfigurationException",
    "SMS not configured",
    /configuration does not allow this sign-in: SMS not configured/,
  ],
  [
    "UnsupportedOperationException",
    "Essentials only",
    /ALLOW_USER_SRP_AUTH is not supported by this user pool/,
  ],
  [
    "UserLambdaValidationException",
    "PreAuthentication failed",
    /Lambda trigger refused the sign-in: PreAuthentication failed/,
  ],
  ["InternalErrorException", "boom", /Cognito refused the sign-in \(InternalErrorException\): boom/],
];

t.test("every error Cognito answers is said in words that say what to do", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "jo", password: PASSWORD });
  for (const [name, message, expected, flow] of ERRORS) {
    f.failNext = { name, message };
    const err = await run(t, f, new Scripted({ password: [PASSWORD] }), "jo", flow ?? "srp").catch(
      (e: unknown) => e,
    );
    t.ok(err instanceof SignInError, name);
    t.match((err as Error).message, expected, `${name}: ${message}`);
  }
});

t.test("explain: network failures, timeouts, and refresh refusals", async (t) => {
  const where = "http://127.0.0.1:1";
  const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  t.match(
    explain(refused, { flow: "srp", where }).message,
    /cannot reach Cognito at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/,
  );
  const timeout = Object.assign(new Error("t"), { name: "TimeoutError" });
  t.match(explain(timeout, { flow: "srp", where }).message, /did not answer in time/);
  const revoked = Object.assign(new Error("Refresh Token has been revoked"), {
    name: "NotAuthorizedException",
  });
  t.match(
    explain(revoked, { flow: "refresh", where }).message,
    /no longer valid \(expired or revoked\): run cupbearer login again/,
  );
  const access = Object.assign(new Error("Access Token has been revoked"), {
    name: "NotAuthorizedException",
  });
  t.match(explain(access, { flow: "srp", where }).message, /access token is no longer valid/);
  const invalid = Object.assign(new Error("Invalid password"), { name: "InvalidPasswordException" });
  t.equal(
    explain(invalid, { flow: "password", where }).message,
    "wrong username or password",
    "cognito-local's wrong password",
  );
  t.match(explain("text", { flow: "srp", where }).message, /Cognito refused the sign-in \(Error\): text/);
  const own = new SignInError("mine");
  t.equal(explain(own, { flow: "srp", where }), own);
  const codes = Object.assign(new Error("x"), { name: "CodeMismatchException" });
  t.equal(explain(codes, { flow: "srp", where }).code, "CodeMismatchException");
  const app = Object.assign(new Error("x"), { name: "EnableSoftwareTokenMFAException" });
  t.match(explain(app, { flow: "srp", where }).message, /check the device's clock/);
});

t.test("a real network failure: nothing listening", async (t) => {
  const c = new CognitoIdentityProviderClient({
    endpoint: "http://127.0.0.1:9",
    region: "us-east-1",
    maxAttempts: 1,
  });
  t.teardown(() => c.destroy());
  const err = await signIn({
    client: c,
    userPoolId: "us-east-1_X",
    clientId: "c",
    username: "u",
    flow: "password",
    prompter: new Scripted({ password: ["p"] }),
    where: "http://127.0.0.1:9",
  }).catch((e: unknown) => e);
  t.match((err as Error).message, /cannot reach Cognito at http:\/\/127\.0\.0\.1:9/);
});

t.test("listParameter reads JSON lists, bare lists and plain values", async (t) => {
  t.same(listParameter('["A","B"]'), ["A", "B"]);
  t.same(listParameter(["A"]), ["A"]);
  t.same(listParameter('"A"'), ["A"]);
  t.same(listParameter("not json"), ["not json"]);
  t.same(listParameter(undefined), []);
  t.same(listParameter(""), []);
});

t.test("jwtClaims reads a payload object, and nothing else", async (t) => {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  t.strictSame(jwtClaims(`h.${part({ sub: "u", exp: 1 })}.s`), { sub: "u", exp: 1 });
  t.equal(jwtClaims("no-dots"), undefined, "not a JWT");
  t.equal(jwtClaims(`h.${Buffer.from("{not json").toString("base64url")}.s`), undefined, "not JSON");
  t.equal(jwtClaims(`h.${part([1, 2])}.s`), undefined, "a list");
  t.equal(jwtClaims(`h.${part(null)}.s`), undefined, "null");
  t.equal(jwtClaims(`h.${part("text")}.s`), undefined, "a string");
});
