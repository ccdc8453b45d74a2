/**
 * `cupbearer dev --as USER` against cognito-local: requests without a token reach the upstream
 * with USER's stored (refreshed) token, verified like any other; a request's own token is never
 * replaced; only on loopback; said loudly at start.
 */
import { join } from "node:path";
import t from "tap";
import { seedPool } from "../../demo/cognito-emulator.js";
import { jwtClaims } from "../../src/signin/flow.js";
import { TokenStore } from "../../src/signin/store.js";
import { waitReady } from "../support/app.js";
import { runMain, startMain } from "../support/cli.js";
import { freePorts } from "../support/emulators.js";
import { sharedCognitoLocal } from "../support/shared.js";
import { signInCli, tempHome } from "../support/signin-cli.js";
import { startUpstream } from "../support/upstream.js";

t.setTimeout(180_000);

const PASSWORD = "Passw0rd!";
const local = await sharedCognitoLocal(t);

t.test("dev --as: the stored user's token on requests without one, verified by the proxy", async (t) => {
  if (local === undefined) return t.pass("cognito-local not running", { skip: "see the SKIPPED banner" });
  const pool = await seedPool(local.endpoint, {
    poolName: "dev-as",
    users: [{ username: "dora", password: PASSWORD }],
  });
  const home = tempHome();
  const login = await signInCli(
    [
      "login",
      "--user-pool",
      pool.poolId,
      "--client-id",
      pool.clientId,
      "--endpoint",
      local.endpoint,
      "-u",
      "dora",
      "--flow",
      "password",
      "--password-stdin",
    ],
    home,
    { stdin: `${PASSWORD}\n` },
  );
  t.equal(login.code, 0, login.stderr);
  // About to expire: starting the proxy refreshes it first.
  const store = new TokenStore(join(home, "cupbearer"));
  const key = store.find({});
  const stale = store.read(key);
  if (stale === undefined) throw new Error("nothing stored");
  store.update({ ...stale, expiresAt: Date.now() + 60_000 });

  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const [port, adminPort] = await freePorts(2);
  const args = [
    "dev",
    "--upstream",
    upstream.url,
    "--issuer",
    pool.issuer,
    "--port",
    String(port),
    "--admin-port",
    String(adminPort),
  ];
  const cli = startMain(t, [...args, "--as", "dora"], { XDG_CONFIG_HOME: home });
  await waitReady(`http://127.0.0.1:${adminPort}`, 20_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${cli.stderr()}`);
  });
  t.match(
    cli.stderr(),
    /^cupbearer dev: AS dora: requests without a token get dora's stored token \(user pool local_\w+, client \w+\); for development only\ncupbearer dev: http:\/\/127\.0\.0\.1:/,
  );

  const fresh = store.read(key);
  t.not(fresh?.accessToken, stale.accessToken, "refreshed at start");
  const res = await fetch(`http://127.0.0.1:${port}/hello`);
  t.equal(res.status, 200);
  t.equal(upstream.requests.length, 1);
  const sent = String(upstream.requests[0]?.headers.authorization);
  t.equal(sent, `Bearer ${fresh?.accessToken}`, "the upstream got dora's token");
  t.equal(jwtClaims(sent.slice(7))?.username, "dora");

  const forged = await fetch(`http://127.0.0.1:${port}/hello`, {
    headers: { authorization: "Bearer aaa.bbb.ccc" },
  });
  t.equal(forged.status, 401, "a request's own token is verified, not replaced");
  t.equal(upstream.requests.length, 1, "and never reaches the upstream");

  const refused = await runMain(t, [...args, "--host", "0.0.0.0", "--as", "dora"], { XDG_CONFIG_HOME: home });
  t.equal(refused.code, 2);
  t.match(
    refused.stderr,
    /--as is refused unless the proxy listens on loopback \(--host 127\.0\.0\.1\): anyone who can reach 0\.0\.0\.0 would act as dora/,
  );
  const nobody = await runMain(t, [...args, "--as", "zed"], { XDG_CONFIG_HOME: home });
  t.equal(nobody.code, 1);
  t.equal(nobody.stderr, "cupbearer dev --as zed: no stored sign-in for zed: run cupbearer login first\n");
  const startOnly = await runMain(t, ["start", "--config", "x.yaml", "--as", "dora"]);
  t.match(startOnly.stderr, /--as is an option of cupbearer dev only/);
});
