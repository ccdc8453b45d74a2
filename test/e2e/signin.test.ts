/**
 * The sign-in commands against the emulators: moto's user pools (SRP's shape, NEW_PASSWORD_REQUIRED,
 * TOTP set-up and sign-in, refresh, global sign-out), cognito-local (password sign-in, new
 * password, refresh, revocation), and `aws-credentials` feeding the real AWS CLI against moto's
 * identity pool, STS and S3 (IAM auth on).
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  AdminCreateUserCommand,
  CognitoIdentityProviderClient,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  InitiateAuthCommand,
  SetUserPoolMfaConfigCommand,
} from "@aws-sdk/client-cognito-identity-provider";
import t from "tap";
import { seedPool } from "../../demo/cognito-emulator.js";
import { jwtClaims } from "../../src/signin/flow.js";
import { TokenStore } from "../../src/signin/store.js";
import { CLI } from "../support/cli.js";
import { findOnPath, seedMotoPool, startMoto } from "../support/moto.js";
import { sharedCognitoLocal, sharedMoto, sharedMotoWorld } from "../support/shared.js";
import { signInCli, tempHome } from "../support/signin-cli.js";
import { totp } from "../support/totp.js";

t.setTimeout(180_000);

const PASSWORD = "Passw0rd!";
const NEW_PASSWORD = "N3w-Passw0rd!";

const [moto, local, world] = await Promise.all([sharedMoto(t), sharedCognitoLocal(t), sharedMotoWorld(t)]);

function admin(endpoint: string, region: string): CognitoIdentityProviderClient {
  return new CognitoIdentityProviderClient({
    endpoint,
    region,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
}

/** A pool of this file's own with an app client allowing every flow, in moto or cognito-local. */
async function pool(endpoint: string, region: string, mfa = false) {
  const client = admin(endpoint, region);
  try {
    const created = await client.send(new CreateUserPoolCommand({ PoolName: `signin-${Date.now()}` }));
    const userPoolId = created.UserPool?.Id ?? "";
    if (mfa) {
      await client.send(
        new SetUserPoolMfaConfigCommand({
          UserPoolId: userPoolId,
          MfaConfiguration: "ON",
          SoftwareTokenMfaConfiguration: { Enabled: true },
        }),
      );
    }
    const appClient = await client.send(
      new CreateUserPoolClientCommand({
        UserPoolId: userPoolId,
        ClientName: "cli",
        ExplicitAuthFlows: ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
      }),
    );
    return { userPoolId, clientId: appClient.UserPoolClient?.ClientId ?? "" };
  } finally {
    client.destroy();
  }
}

/** A user who must choose a new password at the first sign-in (FORCE_CHANGE_PASSWORD). */
async function temporaryUser(endpoint: string, region: string, userPoolId: string, username: string) {
  const client = admin(endpoint, region);
  try {
    await client.send(
      new AdminCreateUserCommand({
        UserPoolId: userPoolId,
        Username: username,
        TemporaryPassword: PASSWORD,
        MessageAction: "SUPPRESS",
      }),
    );
  } finally {
    client.destroy();
  }
}

const loginArgs = (
  p: { userPoolId: string; clientId: string },
  endpoint: string,
  user: string,
  ...more: string[]
) => [
  "login",
  "--user-pool",
  p.userPoolId,
  "--client-id",
  p.clientId,
  "--endpoint",
  endpoint,
  "--username",
  user,
  "--password-stdin",
  ...more,
];

/** Makes the stored tokens look about to expire, so the next command refreshes them. */
function ageTokens(home: string): void {
  const store = new TokenStore(join(home, "cupbearer"));
  const key = store.find({});
  const session = store.read(key);
  if (session === undefined) throw new Error("nothing stored");
  store.update({ ...session, expiresAt: Date.now() + 60_000 });
}

t.test("moto: SRP sign-in, a refresh, then a global sign-out that ends the refresh token", async (t) => {
  if (moto === undefined) return t.pass("moto not running", { skip: "see the SKIPPED banner" });
  const seeded = await seedMotoPool(moto.endpoint, {
    poolName: "signin-srp",
    users: [{ username: "alice", password: PASSWORD }],
  });
  const p = { userPoolId: seeded.poolId, clientId: seeded.clientId };
  const home = tempHome();
  const login = await signInCli(loginArgs(p, moto.endpoint, "alice"), home, { stdin: `${PASSWORD}\n` });
  t.equal(login.code, 0, login.stderr);
  t.match(login.stderr, /^Signed in as alice/);
  const first = await signInCli(["token"], home);
  t.equal(jwtClaims(first.stdout.trim())?.username, "alice", "a moto access token of alice");
  t.equal(
    jwtClaims(first.stdout.trim())?.iss,
    `https://cognito-idp.us-east-1.amazonaws.com/${seeded.poolId}`,
  );

  ageTokens(home);
  const refreshed = await signInCli(["token", "--id"], home);
  t.equal(refreshed.code, 0, refreshed.stderr);
  t.equal(jwtClaims(refreshed.stdout.trim())?.token_use, "id");
  const store = new TokenStore(join(home, "cupbearer"));
  const session = store.read(store.find({}));
  t.ok((session?.expiresAt ?? 0) - Date.now() > 50 * 60_000, "new tokens, an hour long");
  const refreshToken = session?.refreshToken ?? "";

  const out = await signInCli(["logout", "--global"], home);
  t.equal(out.code, 0, out.stderr);
  const client = admin(moto.endpoint, "us-east-1");
  t.teardown(() => client.destroy());
  await t.rejects(
    client.send(
      new InitiateAuthCommand({
        AuthFlow: "REFRESH_TOKEN_AUTH",
        ClientId: p.clientId,
        AuthParameters: { REFRESH_TOKEN: refreshToken },
      }),
    ),
    { name: "NotAuthorizedException" },
    "the refresh token no longer works after GlobalSignOut",
  );
});

t.test("moto: NEW_PASSWORD_REQUIRED, then SRP with the new password", async (t) => {
  if (moto === undefined) return t.pass("moto not running", { skip: "see the SKIPPED banner" });
  const p = await pool(moto.endpoint, "us-east-1");
  await temporaryUser(moto.endpoint, "us-east-1", p.userPoolId, "bea");
  const home = tempHome();
  const first = await signInCli(loginArgs(p, moto.endpoint, "bea", "--flow", "password"), home, {
    stdin: `${PASSWORD}\n`,
    env: { CUPBEARER_NEW_PASSWORD: NEW_PASSWORD },
  });
  t.equal(first.code, 0, first.stderr);
  t.match(first.stderr, /The pool requires a new password for this user\./);
  // moto checks the password of USER_PASSWORD_AUTH: only the new one is accepted now.
  const old = await signInCli(loginArgs(p, moto.endpoint, "bea", "--flow", "password"), home, {
    stdin: `${PASSWORD}\n`,
  });
  t.equal(old.stderr, "cupbearer login: wrong username or password\n");
  const srp = await signInCli(loginArgs(p, moto.endpoint, "bea"), home, { stdin: `${NEW_PASSWORD}\n` });
  t.equal(srp.code, 0, srp.stderr);
});

/** Waits (at most 6 s) until at least 6 s are left in the current 30 s TOTP step, so a code is checked in the step it was made for. */
async function clearOfStepEdge(): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 6_000) await new Promise((resolve) => setTimeout(resolve, left + 100));
}

t.test(
  "moto (TOTP checked): set-up at the first sign-in (a QR code, the app's code), then TOTP sign-in",
  async (t) => {
    if (moto === undefined) return t.pass("moto not running", { skip: "see the SKIPPED banner" });
    // A moto of this test's own that checks TOTP codes (the shared one takes any code).
    const checking = await startMoto({
      ...process.env,
      TZ: "UTC",
      MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP: "true",
    });
    t.teardown(() => checking.stop());
    const endpoint = checking.endpoint;
    const p = await pool(endpoint, "us-east-1", true);
    const seeded = admin(endpoint, "us-east-1");
    t.teardown(() => seeded.destroy());
    await seeded.send(
      new AdminCreateUserCommand({
        UserPoolId: p.userPoolId,
        Username: "cid",
        TemporaryPassword: PASSWORD,
        MessageAction: "SUPPRESS",
      }),
    );
    const home = tempHome();
    // The code is computed from the secret the command shows, as an authenticator app would.
    let secret = "";
    await clearOfStepEdge();
    const live = await signInCli(loginArgs(p, endpoint, "cid"), home, {
      stdin: `${PASSWORD}\n`,
      env: { CUPBEARER_NEW_PASSWORD: NEW_PASSWORD },
      onStderr: (stderr) => {
        const m = /secret=([A-Za-z2-7]+)/.exec(stderr);
        if (m?.[1] === undefined || secret !== "") return undefined;
        secret = m[1];
        return `${totp(secret)}\n`;
      },
    });
    t.equal(live.code, 0, "signed in after the set-up");
    t.not(secret, "", "the secret was shown");
    t.match(live.stderr, /otpauth:\/\/totp\/Cognito%20us-east-1_[0-9a-f]+:cid\?secret=[A-Za-z2-7]+&issuer=/);
    t.match(live.stderr, /[▀▄█]{20}/, "and a QR code");
    // Signing in again: moto now asks for the authenticator's code (SOFTWARE_TOKEN_MFA) and checks it.
    await clearOfStepEdge();
    const again = await signInCli(loginArgs(p, endpoint, "cid"), home, {
      stdin: `${NEW_PASSWORD}\n${totp(secret)}\n`,
    });
    t.equal(again.code, 0, again.stderr);
    const wrongCode = String((Number(totp(secret)) + 1) % 1_000_000).padStart(6, "0");
    const wrong = await signInCli(loginArgs(p, endpoint, "cid"), home, {
      stdin: `${NEW_PASSWORD}\n${wrongCode}\n`,
    });
    t.equal(
      wrong.stderr,
      "cupbearer login: wrong code: sign in again and type the current code\n",
      "moto checks the code",
    );
  },
);

t.test("cognito-local: password sign-in, new password, refresh, revocation", async (t) => {
  if (local === undefined) return t.pass("cognito-local not running", { skip: "see the SKIPPED banner" });
  const seeded = await seedPool(local.endpoint, {
    poolName: "signin-local",
    users: [{ username: "dora", password: PASSWORD }],
  });
  const p = { userPoolId: seeded.poolId, clientId: seeded.clientId };
  const home = tempHome();
  const login = await signInCli(
    loginArgs(p, local.endpoint, "dora", "--flow", "password", "--region", "us-east-1"),
    home,
    {
      stdin: `${PASSWORD}\n`,
    },
  );
  t.equal(login.code, 0, login.stderr);
  const wrong = await signInCli(loginArgs(p, local.endpoint, "dora", "--flow", "password"), tempHome(), {
    stdin: "nope\n",
  });
  t.equal(wrong.stderr, "cupbearer login: wrong username or password\n");

  ageTokens(home);
  const before = new TokenStore(join(home, "cupbearer"));
  const oldAccess = before.read(before.find({}))?.accessToken;
  const token = await signInCli(["token"], home);
  t.equal(token.code, 0, token.stderr);
  t.not(token.stdout.trim(), oldAccess, "refreshed by cognito-local");
  t.equal(jwtClaims(token.stdout.trim())?.username, "dora");

  const refreshToken = before.read(before.find({}))?.refreshToken ?? "";
  const out = await signInCli(["logout"], home);
  t.equal(out.code, 0, out.stderr);
  const client = admin(local.endpoint, "us-east-1");
  t.teardown(() => client.destroy());
  await t.rejects(
    client.send(
      new InitiateAuthCommand({
        AuthFlow: "REFRESH_TOKEN_AUTH",
        ClientId: p.clientId,
        AuthParameters: { REFRESH_TOKEN: refreshToken },
      }),
    ),
    { name: "NotAuthorizedException" },
    "revoked",
  );

  await temporaryUser(local.endpoint, "us-east-1", p.userPoolId, "eli");
  const fresh = await signInCli(loginArgs(p, local.endpoint, "eli", "--flow", "password"), home, {
    stdin: `${PASSWORD}\n${NEW_PASSWORD}\n${NEW_PASSWORD}\n`,
  });
  t.equal(fresh.code, 0, fresh.stderr);
  const again = await signInCli(loginArgs(p, local.endpoint, "eli", "--flow", "password"), home, {
    stdin: `${NEW_PASSWORD}\n`,
  });
  t.equal(again.code, 0, again.stderr);
});

const run = promisify(execFile);

t.test(
  "aws-credentials: credential_process for the real AWS CLI, against moto's identity pool, STS and S3",
  async (t) => {
    if (local === undefined || world === undefined)
      return t.pass("emulators not running", { skip: "see the SKIPPED banner" });
    const aws = findOnPath("aws");
    if (aws === undefined) {
      if (process.env.CI === "true") t.fail("the AWS CLI (aws) is not installed");
      return t.pass("no AWS CLI", { skip: "aws not on PATH" });
    }
    const seeded = await seedPool(local.endpoint, {
      poolName: "signin-aws",
      users: [{ username: "finn", password: PASSWORD }],
    });
    const home = tempHome();
    const login = await signInCli(
      loginArgs(
        { userPoolId: seeded.poolId, clientId: seeded.clientId },
        local.endpoint,
        "finn",
        "--flow",
        "password",
        "--region",
        "us-east-1",
      ),
      home,
      { stdin: `${PASSWORD}\n` },
    );
    t.equal(login.code, 0, login.stderr);

    const direct = await signInCli(
      ["aws-credentials", "--identity-pool", world.identityPoolId, "--endpoint", world.endpoint],
      home,
    );
    t.equal(direct.code, 0, direct.stderr);
    const json = JSON.parse(direct.stdout) as Record<string, unknown>;
    t.same(Object.keys(json), ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"]);
    t.equal(json.Version, 1);
    t.match(json.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const awsDir = join(home, "aws");
    mkdirSync(awsDir);
    const config = join(awsDir, "config");
    writeFileSync(
      config,
      `[profile cupbearer]\nregion = us-east-1\ncredential_process = ${process.execPath} ${CLI} aws-credentials --identity-pool ${world.identityPoolId} --endpoint ${world.endpoint}\n`,
    );
    const env = {
      PATH: process.env.PATH ?? "",
      HOME: home,
      XDG_CONFIG_HOME: home,
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: join(awsDir, "credentials"),
      AWS_PROFILE: "cupbearer",
    };
    const identity = await run(
      aws,
      ["sts", "get-caller-identity", "--endpoint-url", world.endpoint, "--output", "json"],
      { env },
    );
    // moto names every caller of its fixed identity credentials user/moto; the account is the world's.
    t.equal(
      JSON.parse(identity.stdout).Account,
      world.accountId,
      "sts get-caller-identity through credential_process",
    );
    const body = join(awsDir, "hello.txt");
    writeFileSync(body, "hello from a Cognito sign-in");
    const s3 = ["--endpoint-url", world.endpoint];
    await run(
      aws,
      ["s3api", "put-object", "--bucket", world.bucket, "--key", "hello.txt", "--body", body, ...s3],
      { env },
    );
    const listed = await run(
      aws,
      ["s3api", "list-objects-v2", "--bucket", world.bucket, ...s3, "--output", "json"],
      { env },
    );
    t.same(
      (JSON.parse(listed.stdout) as { Contents: Array<{ Key: string }> }).Contents.map((c) => c.Key),
      ["hello.txt"],
      "signed with the credentials cupbearer printed, moto (IAM auth on) let the write through",
    );
    // Without the profile the same call is refused: the credentials above did the work.
    const refused = await run(aws, ["s3api", "list-objects-v2", "--bucket", world.bucket, ...s3], {
      env: { ...env, AWS_PROFILE: "", AWS_ACCESS_KEY_ID: "nobody", AWS_SECRET_ACCESS_KEY: "wrong" },
    }).catch((e: unknown) => e as { code: number; stderr: string });
    t.not((refused as { code?: number }).code ?? 0, 0);

    const bad = await signInCli(["aws-credentials", "--identity-pool", "nonsense"], home);
    t.equal(bad.code, 2);
    t.match(bad.stderr, /--identity-pool: expected an identity pool id/);
    const unknown = await signInCli(
      [
        "aws-credentials",
        "--identity-pool",
        "us-east-1:00000000-0000-0000-0000-000000000000",
        "--endpoint",
        world.endpoint,
      ],
      home,
    );
    t.equal(unknown.code, 1);
    t.match(unknown.stderr, /^cupbearer aws-credentials: the identity pool could not give credentials: /);
  },
);
