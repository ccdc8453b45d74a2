/**
 * `cupbearer login` as a person uses it: the built bin in a real terminal (a tmux pane, a
 * pseudo-terminal), keys typed into it, the screen read back. What is typed for the username
 * shows; passwords and codes never do (raw mode, nothing drawn). Against the protocol-level fake.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import t, { type Test } from "tap";
import { TokenStore } from "../../src/signin/store.js";
import { CLI } from "../support/cli.js";
import { FakeCognito } from "../support/fake-cognito.js";
import { findOnPath } from "../support/moto.js";
import { tempHome } from "../support/signin-cli.js";
import { waitFor } from "../support/wait.js";

t.setTimeout(120_000);

const run = promisify(execFile);
const tmux = findOnPath("tmux");
const PASSWORD = "Sup3r-secret-pw!";

/** A tmux server of this test's own, one pane running `command`; killed at teardown. */
async function terminal(t: Test, command: string) {
  const socket = `cupbearer-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const tm = (...args: string[]) => run(tmux as string, ["-L", socket, ...args]);
  // The pane stays after the command ends, so its last screen can be read.
  await tm("new-session", "-d", "-s", "s", "-x", "200", "-y", "60", `${command}; echo "[exit $?]"; sleep 60`);
  t.teardown(() => tm("kill-server").catch(() => undefined));
  const screen = async () => (await tm("capture-pane", "-p", "-t", "s", "-S", "-200")).stdout;
  return {
    screen,
    /** Waits until the screen shows `text`, then returns it. */
    until: (text: string) =>
      waitFor(
        `the terminal to show ${JSON.stringify(text)}`,
        async () => {
          const s = await screen();
          return s.includes(text) ? s : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\n--- screen ---\n${await screen()}`);
      }),
    type: async (text: string) => {
      await tm("send-keys", "-t", "s", "-l", text);
      await tm("send-keys", "-t", "s", "Enter");
    },
    keys: (...keys: string[]) => tm("send-keys", "-t", "s", ...keys),
  };
}

async function fake(t: Test): Promise<FakeCognito> {
  const f = new FakeCognito();
  await f.start();
  t.teardown(() => f.stop());
  return f;
}

const shell = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

function loginCommand(f: FakeCognito, home: string, ...more: string[]): string {
  const args = [
    "login",
    "--user-pool",
    f.userPoolId,
    "--client-id",
    f.clientId,
    "--endpoint",
    f.endpoint,
    ...more,
  ];
  return `env XDG_CONFIG_HOME=${shell(home)} ${shell(process.execPath)} ${shell(CLI)} ${args.map(shell).join(" ")}`;
}

t.test(
  "a person signs in: the username shows, the password and the code never do",
  { skip: tmux === undefined && process.env.CI !== "true" ? "tmux not installed" : false },
  async (t) => {
    const f = await fake(t);
    f.addUser({ username: "alice", password: PASSWORD, mfa: "SMS_MFA" });
    const home = tempHome();
    const term = await terminal(t, loginCommand(f, home));
    await term.until("Username:");
    await term.type("alice");
    await term.until("Password:");
    await term.type(PASSWORD);
    await term.until("Code sent by SMS to +*******0199:");
    await term.type(f.smsCode);
    const screen = await term.until("[exit 0]");
    t.match(screen, /Username: alice\n/, "the username is echoed as typed");
    t.match(screen, /Password:\n/, "nothing drawn after the password prompt");
    t.match(screen, /Code sent by SMS to \+\*+0199:\n/, "nor after the code prompt");
    t.notMatch(screen, PASSWORD, "the password is nowhere on the screen");
    t.notMatch(screen, f.smsCode, "nor the code");
    t.match(screen, /Signed in as alice \(user pool us-east-1_FakePool1, client fakeclient123\)/);
    const store = new TokenStore(join(home, "cupbearer"));
    t.ok(existsSync(store.path({ userPoolId: f.userPoolId, clientId: f.clientId, username: "alice" })));
  },
);

t.test(
  "typing mistakes: backspace edits a hidden password; a numbered choice; Ctrl-C cancels",
  { skip: tmux === undefined && process.env.CI !== "true" ? "tmux not installed" : false },
  async (t) => {
    const f = await fake(t);
    f.addUser({ username: "bob", password: PASSWORD });
    const home = tempHome();
    const term = await terminal(t, loginCommand(f, home, "--username", "bob", "--flow", "user-auth"));
    const choices = await term.until("Sign in with:");
    t.match(choices, /1\. PASSWORD\n\s+2\. PASSWORD_SRP\n\s+3\. EMAIL_OTP\n/, "the choices, numbered");
    await term.type("2");
    await term.until("Password:");
    // A wrong last letter, erased with backspace, then the right one.
    await term.keys("-l", `${PASSWORD.slice(0, -1)}X`);
    await term.keys("BSpace");
    await term.type(PASSWORD.slice(-1));
    const screen = await term.until("[exit 0]");
    t.notMatch(screen, PASSWORD.slice(0, 6), "no part of the password shows");
    t.match(screen, /Signed in as bob/);

    const cancel = await terminal(t, loginCommand(f, tempHome(), "--username", "bob"));
    await cancel.until("Password:");
    await cancel.keys("-l", "half");
    await cancel.keys("C-c");
    const cancelled = await cancel.until("[exit 1]");
    t.match(cancelled, /cupbearer login: cancelled\n/);
    t.notMatch(cancelled, "half");
  },
);
