/**
 * `cupbearer login`, `token` and `logout` against the protocol-level fake user pool: in this
 * process through main() (stdin lines, the environment, the token files), and as real processes
 * for the one thing only processes show: concurrent `cupbearer token` calls refreshing once.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { withLock } from "../../src/signin/lock.js";
import { SignInError } from "../../src/signin/messages.js";
import { configDir, parseSession, TokenStore } from "../../src/signin/store.js";
import { CLI } from "../support/cli.js";
import { FakeCognito, type FakeCognitoOptions } from "../support/fake-cognito.js";
import { type SignInRun, signInCli, tempHome } from "../support/signin-cli.js";

t.setTimeout(180_000);

const PASSWORD = "Corr3ct-horse!";

type Run = SignInRun;
const cli = signInCli;

async function fake(t: Test, options: FakeCognitoOptions = {}): Promise<FakeCognito> {
  const f = new FakeCognito(options);
  await f.start();
  t.teardown(() => f.stop());
  return f;
}

const home = tempHome;

const loginArgs = (f: FakeCognito, user: string, ...more: string[]) => [
  "login",
  "--user-pool",
  f.userPoolId,
  "--client-id",
  f.clientId,
  "--endpoint",
  f.endpoint,
  "--username",
  user,
  ...more,
];

t.test(
  "login stores tokens 0600 in a 0700 folder; token prints them; nothing secret on stdout",
  async (t) => {
    const f = await fake(t);
    f.addUser({ username: "alice", password: PASSWORD });
    const dir = home();
    const login = await cli(loginArgs(f, "alice", "--password-stdin"), dir, { stdin: `${PASSWORD}\n` });
    t.equal(login.code, 0, login.stderr);
    t.equal(login.stdout, "", "login prints nothing on stdout");
    t.match(
      login.stderr,
      /^Signed in as alice \(user pool us-east-1_FakePool1, client fakeclient123\); tokens stored in /,
    );
    t.notMatch(login.stderr, PASSWORD);
    const store = new TokenStore(join(dir, "cupbearer"));
    const key = { userPoolId: f.userPoolId, clientId: f.clientId, username: "alice" };
    const file = store.path(key);
    t.equal(statSync(file).mode & 0o777, 0o600, "the token file is 0600");
    t.equal(statSync(join(dir, "cupbearer")).mode & 0o777, 0o700, "the config folder is 0700");
    t.equal(statSync(store.dir).mode & 0o777, 0o700, "the sessions folder is 0700");
    const text = readFileSync(file, "utf8");
    t.notMatch(text, PASSWORD, "the password is not stored");
    const stored = store.read(key);
    t.equal(stored?.username, "alice");

    const access = await cli(["token"], dir);
    t.equal(access.code, 0);
    t.equal(access.stdout, `${stored?.accessToken}\n`, "the access token by default");
    const id = await cli(["token", "--id", "--user", "alice"], dir);
    t.equal(id.stdout, `${stored?.idToken}\n`);
    t.equal(f.refreshes, 0, "fresh tokens are not refreshed");
    const both = await cli(["token", "--id", "--access"], dir);
    t.equal(both.code, 2);
    t.match(both.stderr, /--id and --access exclude each other/);
  },
);

t.test("token refreshes when less than 5 minutes are left, and keeps the refresh token", async (t) => {
  const f = await fake(t, { tokenSeconds: 120 });
  f.addUser({ username: "bob", password: PASSWORD });
  const dir = home();
  t.equal((await cli(loginArgs(f, "bob", "--password-stdin"), dir, { stdin: PASSWORD })).code, 0);
  const store = new TokenStore(join(dir, "cupbearer"));
  const key = store.find({});
  const before = store.read(key);
  f.tokenSeconds = 3600;
  const out = await cli(["token"], dir);
  t.equal(out.code, 0, out.stderr);
  t.equal(f.refreshes, 1, "refreshed once");
  const after = store.read(key);
  t.not(after?.accessToken, before?.accessToken);
  t.equal(
    after?.refreshToken,
    before?.refreshToken,
    "Cognito returns no new refresh token: the old one is kept",
  );
  t.equal(out.stdout, `${after?.accessToken}\n`);
  t.ok((after?.expiresAt ?? 0) - Date.now() > 3000_000);
  await cli(["token"], dir);
  t.equal(f.refreshes, 1, "now fresh: not refreshed again");
});

t.test("concurrent `cupbearer token` processes refresh once (a lock file)", async (t) => {
  const f = await fake(t, { tokenSeconds: 60 });
  f.addUser({ username: "carl", password: PASSWORD });
  const dir = home();
  t.equal((await cli(loginArgs(f, "carl", "--password-stdin"), dir, { stdin: PASSWORD })).code, 0);
  f.tokenSeconds = 3600;
  const runs = await Promise.all(
    Array.from({ length: 5 }, () => {
      const child = spawn(process.execPath, [CLI, "token"], {
        env: { ...process.env, XDG_CONFIG_HOME: dir },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      return new Promise<Run>((resolve) =>
        child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })),
      );
    }),
  );
  for (const run of runs) t.equal(run.code, 0, run.stderr);
  t.equal(f.refreshes, 1, "five processes, one refresh");
  t.equal(new Set(runs.map((r) => r.stdout)).size, 1, "all print the same refreshed token");
});

t.test("a damaged token file is answered with a clear message", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "dora", password: PASSWORD });
  const dir = home();
  await cli(loginArgs(f, "dora", "--password-stdin"), dir, { stdin: PASSWORD });
  const store = new TokenStore(join(dir, "cupbearer"));
  const file = store.path(store.find({}));
  writeFileSync(file, "{ not json");
  const out = await cli(["token"], dir);
  t.equal(out.code, 1);
  t.equal(
    out.stderr,
    `cupbearer token: the stored sign-in ${file} is damaged (not JSON): delete it and run cupbearer login again\n`,
  );
  t.equal(out.stdout, "");
  // A new login replaces it.
  t.equal((await cli(loginArgs(f, "dora", "--password-stdin"), dir, { stdin: PASSWORD })).code, 0);
  t.equal((await cli(["token"], dir)).code, 0);
});

t.test("parseSession names what is wrong", async (t) => {
  const good = {
    version: 1,
    userPoolId: "p_1",
    clientId: "c",
    username: "u",
    region: "p",
    idToken: "i",
    accessToken: "a",
    refreshToken: "r",
    expiresAt: 1,
  };
  const cases: Array<[unknown, string]> = [
    [[], "not an object"],
    [{ ...good, version: 2 }, "unknown version"],
    [{ ...good, idToken: "" }, "no idToken"],
    [{ ...good, endpoint: 3 }, "bad endpoint"],
    [{ ...good, expiresAt: "soon" }, "no expiresAt"],
    [{ ...good, device: { key: "k" } }, "bad device"],
  ];
  for (const [value, why] of cases) {
    t.throws(
      () => parseSession(JSON.stringify(value), "F"),
      new SignInError(`the stored sign-in F is damaged (${why}): delete it and run cupbearer login again`),
    );
  }
  t.same(parseSession(JSON.stringify(good), "F"), good);
});

t.test("the config folder: XDG_CONFIG_HOME if absolute, else ~/.config", async (t) => {
  t.equal(configDir({ XDG_CONFIG_HOME: "/x", HOME: "/h" }), "/x/cupbearer");
  t.equal(configDir({ XDG_CONFIG_HOME: "relative", HOME: "/h" }), "/h/.config/cupbearer");
  t.equal(configDir({ HOME: "/h" }), "/h/.config/cupbearer");
  t.throws(() => configDir({}), /set HOME or XDG_CONFIG_HOME/);
  // A folder that exists with a looser mode is tightened.
  const dir = home();
  mkdirSync(join(dir, "cupbearer"), { mode: 0o755 });
  const store = new TokenStore(join(dir, "cupbearer"));
  store.write({
    version: 1,
    userPoolId: "p_1",
    clientId: "c",
    username: "u",
    region: "p",
    idToken: "i",
    accessToken: "a",
    refreshToken: "r",
    expiresAt: 1,
  });
  t.equal(statSync(join(dir, "cupbearer")).mode & 0o777, 0o700);
});

t.test("several stored sign-ins: the last login by default, --user picks, ambiguity is said", async (t) => {
  const f = await fake(t);
  f.addUser({ username: "eve", password: PASSWORD });
  f.addUser({ username: "fred", password: PASSWORD });
  const dir = home();
  await cli(loginArgs(f, "eve", "--password-stdin"), dir, { stdin: PASSWORD });
  await cli(loginArgs(f, "fred", "--password-stdin"), dir, { stdin: PASSWORD });
  const store = new TokenStore(join(dir, "cupbearer"));
  const tokenOf = (user: string) =>
    store.read({ userPoolId: f.userPoolId, clientId: f.clientId, username: user })?.accessToken;
  t.equal((await cli(["token"], dir)).stdout, `${tokenOf("fred")}\n`, "the last login");
  t.equal((await cli(["token", "--user", "eve"], dir)).stdout, `${tokenOf("eve")}\n`);
  const ambiguous = await cli(["token", "--client-id", f.clientId], dir);
  t.equal(ambiguous.code, 1);
  t.match(
    ambiguous.stderr,
    /several stored sign-ins match; name one with --user.*\n {2}eve \(pool .*\n {2}fred/s,
  );
  const none = await cli(["token", "--user", "zed"], dir);
  t.equal(none.stderr, "cupbearer token: no stored sign-in for zed: run cupbearer login first\n");
  const empty = await cli(["token"], home());
  t.equal(empty.stderr, "cupbearer token: no stored sign-in: run cupbearer login first\n");
});

t.test("logout revokes the refresh token; --global signs out everywhere", async (t) => {
  const f = await fake(t, { clientSecret: "shh" });
  f.addUser({ username: "gail", password: PASSWORD });
  const dir = home();
  const login = await cli(loginArgs(f, "gail", "--password-stdin"), dir, {
    stdin: PASSWORD,
    env: { CUPBEARER_CLIENT_SECRET: "shh" },
  });
  t.equal(login.code, 0, login.stderr);
  const store = new TokenStore(join(dir, "cupbearer"));
  const refresh = store.read(store.find({}))?.refreshToken;
  const out = await cli(["logout"], dir);
  t.equal(out.code, 0, out.stderr);
  t.equal(out.stderr, "Revoked gail's refresh token; stored tokens forgotten\n");
  t.ok(f.revoked.has(refresh ?? ""), "RevokeToken with the refresh token (and the client secret)");
  t.same(store.list(), [], "forgotten");
  t.match((await cli(["token"], dir)).stderr, /no stored sign-in/);

  await cli(loginArgs(f, "gail", "--password-stdin", "--client-secret", "shh"), dir, { stdin: PASSWORD });
  const global = await cli(["logout", "--global"], dir);
  t.equal(global.stderr, "Signed gail out everywhere; stored tokens forgotten\n");
  t.ok(f.revoked.has("global:gail"));

  await cli(loginArgs(f, "gail", "--password-stdin", "--client-secret", "shh"), dir, { stdin: PASSWORD });
  f.failNext = { name: "UnsupportedTokenTypeException", message: "revocation disabled" };
  const unsupported = await cli(["logout"], dir);
  t.equal(unsupported.code, 1);
  t.match(
    unsupported.stderr,
    /token revocation is not enabled on the app client \(EnableTokenRevocation\): use --global; the stored tokens of gail are forgotten anyway/,
  );
  t.same(store.list(), []);
  await cli(loginArgs(f, "gail", "--password-stdin", "--client-secret", "shh"), dir, { stdin: PASSWORD });
  f.failNext = { name: "NotAuthorizedException", message: "Access Token has been revoked" };
  const refused = await cli(["logout", "--global"], dir);
  t.match(refused.stderr, /GlobalSignOut failed: .*forgotten anyway/);
});

t.test(
  "answers from stdin lines and the environment; no terminal, no password without --password-stdin",
  async (t) => {
    const f = await fake(t);
    f.addUser({ username: "hal", password: PASSWORD, mfa: "SMS_MFA" });
    const dir = home();
    const lines = await cli(loginArgs(f, "hal", "--password-stdin"), dir, {
      stdin: `${PASSWORD}\n${f.smsCode}\n`,
    });
    t.equal(lines.code, 0, lines.stderr);
    const env = await cli(loginArgs(f, "hal", "--password-stdin"), dir, {
      stdin: `${PASSWORD}\n`,
      env: { CUPBEARER_MFA_CODE: f.smsCode },
    });
    t.equal(env.code, 0, env.stderr);
    const ended = await cli(loginArgs(f, "hal", "--password-stdin"), dir, { stdin: `${PASSWORD}\n` });
    t.equal(ended.code, 1);
    t.equal(
      ended.stderr,
      'cupbearer login: no answer for "Code sent by SMS to +*******0199": stdin has ended (give one a line, or set CUPBEARER_MFA_CODE)\n',
    );
    const noFlag = await cli(loginArgs(f, "hal"), dir, { stdin: `${PASSWORD}\n` });
    t.equal(
      noFlag.stderr,
      "cupbearer login: stdin is not a terminal: pass --password-stdin to read the password from it\n",
    );
    const noStdin = await cli(
      ["login", "--user-pool", f.userPoolId, "--client-id", f.clientId, "--endpoint", f.endpoint],
      dir,
    );
    t.match(noStdin.stderr, /no answer for "Username"/);
    const username = await cli(
      [
        "login",
        "--user-pool",
        f.userPoolId,
        "--client-id",
        f.clientId,
        "--endpoint",
        f.endpoint,
        "--password-stdin",
      ],
      dir,
      {
        stdin: `\n`,
      },
    );
    t.match(username.stderr, /no username given/);
  },
);

t.test("login's usage problems", async (t) => {
  const dir = home();
  const cases: Array<[string[], RegExp]> = [
    [["login"], /cupbearer login needs --user-pool and --client-id/],
    [
      ["login", "--user-pool", "us-east-1_X", "--client-id", "c", "--flow", "magic"],
      /--flow: expected one of srp, password, user-auth, custom/,
    ],
    [
      ["login", "--user-pool", "us-east-1_X", "--client-id", "c", "--endpoint", "ftp://x"],
      /--endpoint: expected an http\(s\) URL/,
    ],
    [["login", "--nope"], /Unknown option '--nope'/],
  ];
  for (const [args, expected] of cases) {
    const out = await cli(args, dir);
    t.equal(out.code, 2, args.join(" "));
    t.match(out.stderr, expected);
    t.match(out.stderr, /Usage: cupbearer login/);
  }
  const help = await cli(["login", "--help"], dir);
  t.equal(help.code, 0);
  t.match(help.stdout, /--password-stdin/);
  const bad = await cli(["login", "--user-pool", "nounderscore", "--client-id", "c", "-u", "x"], dir);
  t.equal(bad.stderr, 'cupbearer login: "nounderscore" is not a user pool id (like eu-west-1_AbCdEf123)\n');
  for (const command of ["token", "logout", "aws-credentials"]) {
    const out = await cli([command, "--help"], dir);
    t.equal(out.code, 0);
    t.match(out.stdout, new RegExp(`Usage: cupbearer ${command}`));
  }
  t.match((await cli(["--help"], dir)).stdout, /cupbearer login --user-pool ID --client-id ID/);
});

t.test("the lock: a dead holder's lock is taken over, a live one waited for, then given up on", async (t) => {
  const dir = home();
  const path = join(dir, "x.lock");
  writeFileSync(path, "999999999");
  t.equal(await withLock(path, async () => "ran"), "ran", "a lock of a process that is gone");
  writeFileSync(path, String(process.pid));
  const err = await withLock(path, async () => "ran", { timeoutMs: 200, pollMs: 20 }).catch(
    (e: unknown) => e,
  );
  t.match((err as Error).message, /another cupbearer is refreshing these tokens/);
  t.equal(await withLock(path, async () => "stale", { staleMs: -1 }), "stale", "an old lock is taken over");
  let order = "";
  writeFileSync(path, "");
  setTimeout(() => {
    order += "released ";
    rmSync(path);
  }, 100);
  await withLock(path, async () => {
    order += "acquired";
  });
  t.equal(order, "released acquired", "waited for the holder");
});
