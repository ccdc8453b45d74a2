import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { seedPool } from "../../demo/cognito-emulator.js";
import { ConfigError } from "../../src/config/types.js";
import { type DevArgs, devBanner, devConfig } from "../../src/dev.js";
import { waitReady } from "../support/app.js";
import { type RunningCli, runMain, spawnCli, startMain } from "../support/cli.js";
import { freePorts } from "../support/emulators.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { sharedCognitoLocal } from "../support/shared.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";

// A real process, proxies in this process and, for one test, the cognito-local emulator: seconds
// each on a loaded machine.
t.setTimeout(180_000);

const LEGACY_CONFIG = join(import.meta.dirname, "../../config/legacy-api.yaml");

/** devConfig's problems, or [] when it accepts the flags. */
function problemsOf(args: DevArgs): string[] {
  try {
    devConfig(args);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

const BASE = { upstream: "http://127.0.0.1:3000", issuer: "http://127.0.0.1:9229/local_abc" };

t.test("devConfig: an issuer URL, one route for every path, a token required", async (t) => {
  const config = devConfig(BASE);
  t.same(
    config.listen,
    { host: "127.0.0.1", port: 8080, trustForwardedHeaders: false },
    "loopback by default",
  );
  t.same(config.admin, { host: "127.0.0.1", port: 9090 });
  t.equal(config.log.level, "info");
  t.equal(config.issuers.length, 1);
  t.match(config.issuers[0], {
    id: "dev",
    issuer: "http://127.0.0.1:9229/local_abc",
    jwksUri: "http://127.0.0.1:9229/local_abc/.well-known/jwks.json",
    anyClient: true,
    clientIds: undefined,
    cognito: undefined,
  });
  t.equal(config.routes.length, 1);
  t.match(config.routes[0], {
    id: "dev",
    match: { path: undefined, pathPrefix: undefined, hosts: undefined, methods: undefined },
    upstream: { url: "http://127.0.0.1:3000" },
    stripPrefix: false,
    auth: { mode: "required", tokenUse: "any", scopes: [], groups: [], forwardToken: undefined },
  });
  // The schema's defaults apply, as for a file.
  t.equal(config.limits.maxTokenBytes, 8192);
  t.equal(config.shutdown.drainTimeoutMs, 10_000);

  const slash = devConfig({ ...BASE, issuer: "https://login.example.com/realm/" });
  t.equal(
    slash.issuers[0]?.issuer,
    "https://login.example.com/realm/",
    "kept exactly: iss is compared as a string",
  );
  t.equal(slash.issuers[0]?.jwksUri, "https://login.example.com/realm/.well-known/jwks.json");
});

t.test("devConfig: a user pool id, or a Cognito issuer URL, becomes the cognito form", async (t) => {
  const fromId = devConfig({ ...BASE, issuer: "eu-west-1_AbCdEf123" });
  t.same(fromId.issuers[0]?.cognito, { region: "eu-west-1", userPoolId: "eu-west-1_AbCdEf123" });
  t.equal(fromId.issuers[0]?.issuer, undefined);
  t.equal(fromId.issuers[0]?.jwksUri, undefined, "the default Cognito JWKS URI");
  const fromUrl = devConfig({
    ...BASE,
    issuer: "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_Xyz789",
  });
  t.same(fromUrl.issuers[0]?.cognito, { region: "us-gov-west-1", userPoolId: "us-gov-west-1_Xyz789" });
  t.same(problemsOf({ ...BASE, issuer: "https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_Abc" }), [
    "--issuer: belongs to region us-east-1, not eu-west-1",
  ]);
});

t.test(
  "devConfig: --client-id narrows the clients, --port/--host/--admin-port move the listeners",
  async (t) => {
    const config = devConfig({
      ...BASE,
      clientIds: ["web", "mobile"],
      port: "8081",
      host: "0.0.0.0",
      adminPort: "9091",
    });
    t.same(config.issuers[0]?.clientIds, ["web", "mobile"]);
    t.equal(config.issuers[0]?.anyClient, false);
    t.same(config.listen, { host: "0.0.0.0", port: 8081, trustForwardedHeaders: false });
    t.same(config.admin, { host: "127.0.0.1", port: 9091 }, "admin stays on loopback");
    t.same(
      devConfig({ ...BASE, clientIds: [] }).issuers[0]?.anyClient,
      true,
      "an empty list is no narrowing",
    );
    t.same(devConfig({ ...BASE, port: "0", adminPort: "0" }).listen.port, 0, "0: any free port");
  },
);

t.test("devConfig: refusals name the flag", async (t) => {
  const cases: Array<[string, DevArgs, string[]]> = [
    [
      "nothing",
      {},
      [
        "--upstream: required: the service to protect, e.g. http://127.0.0.1:3000",
        "--issuer: required: an issuer URL (exactly as in the tokens' iss) or a user pool id like eu-west-1_AbCdEf123",
      ],
    ],
    [
      "no --upstream",
      { issuer: BASE.issuer },
      ["--upstream: required: the service to protect, e.g. http://127.0.0.1:3000"],
    ],
    [
      "empty --issuer",
      { upstream: BASE.upstream, issuer: "" },
      [
        "--issuer: required: an issuer URL (exactly as in the tokens' iss) or a user pool id like eu-west-1_AbCdEf123",
      ],
    ],
    [
      "plain http to another host",
      { ...BASE, issuer: "http://idp.example.com/pool" },
      ["--issuer: plain http is allowed only for loopback hosts (127.0.0.1, localhost, [::1]); use https"],
    ],
    [
      "neither a URL nor a pool id",
      { ...BASE, issuer: "local_abc" },
      [
        "--issuer: expected an issuer URL (exactly as in the tokens' iss) or a user pool id like eu-west-1_AbCdEf123",
      ],
    ],
    [
      "an issuer URL that is not http",
      { ...BASE, issuer: "ftp://127.0.0.1/x" },
      ["--issuer: expected an http:// or https:// URL without credentials"],
    ],
    [
      "bad upstream",
      { ...BASE, upstream: "127.0.0.1:3000" },
      ["--upstream: expected an http:// or https:// URL without credentials"],
    ],
    ["port too large", { ...BASE, port: "65536" }, ["--port: expected a number from 0 to 65535"]],
    ["port not a number", { ...BASE, port: "http" }, ["--port: expected a whole number"]],
    ["admin port not a number", { ...BASE, adminPort: "9o90" }, ["--admin-port: expected a whole number"]],
    ["same port twice", { ...BASE, port: "9090" }, ["--admin-port: must differ from --port"]],
    ["empty client id", { ...BASE, clientIds: ["web", ""] }, ["--client-id: must not be empty"]],
    ["empty host", { ...BASE, host: "" }, ["--host: must not be empty"]],
  ];
  for (const [name, args, expected] of cases) t.same(problemsOf(args), expected, name);
});

t.test("devBanner: one line saying what is protected where", async (t) => {
  t.equal(
    devBanner(devConfig(BASE), { port: 8080, adminPort: 9090 }),
    "cupbearer dev: http://127.0.0.1:8080 → http://127.0.0.1:3000, every path needs a token of " +
      "http://127.0.0.1:9229/local_abc (any client); admin http://127.0.0.1:9090\n",
  );
  t.equal(
    devBanner(devConfig({ ...BASE, issuer: "eu-west-1_AbCdEf123", clientIds: ["a", "b"], host: "::1" }), {
      port: 1,
      adminPort: 2,
    }),
    "cupbearer dev: http://[::1]:1 → http://127.0.0.1:3000, every path needs a token of " +
      "user pool eu-west-1_AbCdEf123 (clients a, b); admin http://127.0.0.1:2\n",
  );
});

// ---------------------------------------------------------------------------------------------
// The CLI: main() in this process, and once the real bin, for its exit code on SIGTERM.
// ---------------------------------------------------------------------------------------------

/** GET through cupbearer, with a bearer token when given; the status. */
async function get(url: string, token?: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    headers: { ...headers, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Starts `cupbearer dev` on free ports with the flags the README shows, in this process or (`bin`)
 * as the real bin; returns its base URL.
 */
async function startDev(
  t: Test,
  upstream: RecordingUpstream,
  issuer: string,
  more: string[] = [],
  how: "in-process" | "bin" = "in-process",
) {
  const [port, adminPort] = await freePorts(2);
  const args = [
    "dev",
    "--upstream",
    upstream.url,
    "--issuer",
    issuer,
    "--port",
    String(port),
    "--admin-port",
    String(adminPort),
    ...more,
  ];
  const cli: RunningCli = how === "bin" ? spawnCli(t, args) : startMain(t, args);
  await waitReady(`http://127.0.0.1:${adminPort}`, 20_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${cli.stderr()}`);
  });
  return { cli, url: `http://127.0.0.1:${port}`, port, adminPort };
}

t.test("CLI: bad dev arguments exit 2 with the problem and the usage; --help documents dev", async (t) => {
  const dev = ["dev", "--upstream", BASE.upstream, "--issuer"];
  // Each case: arguments, exit code, what stderr (stdout for --help) must say.
  const cases: Array<[string[], number, string[]]> = [
    [
      ["dev", "--upstream", BASE.upstream],
      2,
      ["cupbearer dev: invalid arguments\n  --issuer: required: an issuer URL", "\nUsage:\n"],
    ],
    [
      [...dev, BASE.issuer, "--port", "99999"],
      2,
      ["  --port: expected a number from 0 to 65535\n", "Usage:"],
    ],
    [[...dev, "http://10.1.2.3/pool"], 2, ["--issuer: plain http is allowed only for loopback hosts"]],
    [[...dev, BASE.issuer, "--verbose"], 2, ["Unknown option '--verbose'", "Usage:"]],
    [["dev", "--config", "x.yaml"], 2, ["cupbearer dev takes no --config"]],
    [
      ["start", "--config", "x.yaml", "--upstream", BASE.upstream],
      2,
      ["--upstream is an option of cupbearer dev only"],
    ],
    [["dev", "now"], 2, ["unknown command: dev now"]],
    [
      ["--help"],
      0,
      [
        "cupbearer dev --upstream URL --issuer URL|POOL_ID",
        "--client-id ID",
        "--port",
        "--admin-port",
        "--host",
      ],
    ],
  ];
  const results = await Promise.all(cases.map(([args]) => runMain(t, args)));
  cases.forEach(([args, code, says], i) => {
    const r = results[i];
    t.equal(r?.code, code, args.join(" "));
    for (const text of says) t.match(code === 0 ? r?.stdout : r?.stderr, text, args.join(" "));
  });
});

t.test(
  "CLI dev: every path needs a token of the issuer, any client, any token use; SIGTERM exits 0",
  async (t) => {
    const issuer: TestIssuer = await startIssuer();
    const up = await startUpstream();
    t.teardown(async () => {
      await up.close();
      await issuer.close();
    });
    const dev = await startDev(t, up, issuer.issuer, [], "bin");
    t.match(
      dev.cli.stderr(),
      `cupbearer dev: ${dev.url} → ${up.url}, every path needs a token of ${issuer.issuer} (any client); ` +
        `admin http://127.0.0.1:${dev.adminPort}\n`,
      "the start line says what is protected where",
    );

    t.equal(await get(`${dev.url}/`), 401, "no token");
    t.equal(await get(`${dev.url}/anything/at/all?x=1`, "not.a.token"), 401, "garbage");
    t.equal(up.requests.length, 0, "nothing refused reached the upstream");

    t.equal(await get(`${dev.url}/orders/7?x=1`, issuer.token(), { "x-auth-request-user": "root" }), 200);
    t.equal(up.requests.length, 1);
    t.equal(up.requests[0]?.url, "/orders/7?x=1", "path and query as sent");
    t.equal(
      up.requests[0]?.headers["x-auth-request-user"],
      "user-1",
      "the verified sub, not the spoofed one",
    );
    t.equal(up.requests[0]?.headers.authorization?.startsWith("Bearer "), true, "the token is forwarded");

    t.equal(await get(`${dev.url}/`, issuer.token({ client_id: "another-client" })), 200, "any client");
    const idToken = issuer.token({ token_use: "id", client_id: undefined, aud: "web" });
    t.equal(await get(`${dev.url}/`, idToken), 200, "any token use");
    t.equal(
      await get(`${dev.url}/`, issuer.token({ exp: Math.floor(Date.now() / 1000) - 3600 })),
      401,
      "expired",
    );
    t.equal(up.requests.length, 3);

    dev.cli.signal("SIGTERM");
    t.equal(await dev.cli.exited, 0, "SIGTERM: exit 0");
  },
);

t.test("CLI dev --client-id (repeatable): only those clients' tokens pass", async (t) => {
  const issuer = await startIssuer({ clientId: "web" });
  const up = await startUpstream();
  t.teardown(async () => {
    await up.close();
    await issuer.close();
  });
  const dev = await startDev(t, up, issuer.issuer, ["--client-id", "web", "--client-id", "mobile"]);
  t.match(dev.cli.stderr(), "(clients web, mobile)");
  t.equal(await get(`${dev.url}/a`, issuer.token()), 200, "web");
  t.equal(await get(`${dev.url}/a`, issuer.token({ client_id: "mobile" })), 200, "mobile");
  t.equal(
    await get(`${dev.url}/a`, issuer.token({ client_id: "other" })),
    401,
    "another client of the issuer",
  );
  t.equal(up.requests.length, 2);
  t.equal(up.requests[0]?.headers["x-auth-request-user"], "user-1");
  dev.cli.signal("SIGTERM");
  t.equal(await dev.cli.exited, 0);
});

t.test(
  "CLI dev in front of the npm start emulator (cognito-local): its issuer URL and a real sign-in",
  async (t) => {
    const emulator = await sharedCognitoLocal(t);
    if (emulator === undefined) return;
    const pool = await seedPool(emulator.endpoint, {
      poolName: "demo",
      users: [{ username: "demo", password: "Demo-Passw0rd!" }],
    });
    const up = await startUpstream();
    t.teardown(() => up.close());
    // The issuer as `npm start` prints it: http://127.0.0.1:PORT/local_XXXXXXXX.
    t.match(pool.issuer, /^http:\/\/127\.0\.0\.1:\d+\/local_\w+$/);
    // As the README says to run it: no --client-id, so the demo's token passes whatever its client.
    const dev = await startDev(t, up, pool.issuer);
    const { accessToken, idToken } = await pool.signIn("demo", "Demo-Passw0rd!");
    t.equal(await get(`${dev.url}/hello`), 401);
    t.equal(await get(`${dev.url}/hello`, accessToken), 200, "access token");
    t.equal(await get(`${dev.url}/hello`, idToken), 200, "ID token");
    t.equal(up.requests.length, 2);
    t.type(up.requests[0]?.headers["x-auth-request-user"], "string");
    dev.cli.signal("SIGTERM");
    t.equal(await dev.cli.exited, 0);
  },
);

// ---------------------------------------------------------------------------------------------
// config/legacy-api.yaml, the README's "Protecting a legacy API without changing it".
// ---------------------------------------------------------------------------------------------

t.test("config/legacy-api.yaml: check passes, and requests go through it as documented", async (t) => {
  const checked = await runMain(t, ["check", "--config", LEGACY_CONFIG]);
  t.equal(checked.code, 0, checked.stderr);
  t.match(checked.stdout, "legacy-api.yaml: OK (2 routes, 1 issuer)");

  // The file as it is, except what only a test can supply: free ports, the recording upstream in
  // place of the API, and the test issuer's keys in place of the pool's (so the tokens are minted
  // here, with the pool's own iss and client, and checked under Cognito's rules).
  const issuer = await startIssuer();
  const up = await startUpstream();
  t.teardown(async () => {
    await up.close();
    await issuer.close();
  });
  const doc = parseYaml(await readFile(LEGACY_CONFIG, "utf8")) as {
    listen: { host: string; port: number };
    admin: { host: string; port: number };
    issuers: Array<{
      cognito: { region: string; userPoolId: string };
      clientIds: string[];
      jwksUri?: string;
    }>;
    routes: Array<{ upstream: string }>;
  };
  t.equal(doc.listen.host, "0.0.0.0", "the example listens on every interface");
  t.equal(doc.admin.host, "127.0.0.1");
  t.same(
    doc.routes.map((r) => r.upstream),
    ["http://127.0.0.1:3000", "http://127.0.0.1:3000"],
    "the API is on loopback",
  );
  const [port, adminPort] = await freePorts(2);
  doc.listen = { host: "127.0.0.1", port };
  doc.admin.port = adminPort;
  const pool = doc.issuers[0];
  if (pool === undefined) throw new Error("no issuer in the example");
  pool.jwksUri = issuer.jwksUri;
  for (const route of doc.routes) route.upstream = up.url;
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-legacy-"));
  const file = join(dir, "legacy-api.yaml");
  await writeFile(file, stringifyYaml(doc));

  const cli = startMain(t, ["--config", file]);
  await waitReady(`http://127.0.0.1:${adminPort}`, 20_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${cli.stderr()}`);
  });
  const base = `http://127.0.0.1:${port}`;
  const iss = `https://cognito-idp.${pool.cognito.region}.amazonaws.com/${pool.cognito.userPoolId}`;
  const clientId = pool.clientIds[0] ?? "";
  const access = issuer.token({ iss, client_id: clientId, username: "alice", "cognito:groups": ["staff"] });

  t.equal(await get(`${base}/health`, undefined, { "x-remote-user": "root" }), 200, "health: public");
  t.equal(up.requests[0]?.headers["x-remote-user"], undefined, "identity headers stripped even there");
  t.equal(await get(`${base}/orders/7`), 401, "the rest: no token");
  t.equal(
    await get(`${base}/orders/7`, issuer.token({ iss, client_id: "another-client" })),
    401,
    "a client not listed",
  );
  const idToken = issuer.token({ iss, token_use: "id", aud: clientId, client_id: undefined });
  t.equal(await get(`${base}/orders/7`, idToken), 403, "an ID token: tokenUse access");
  t.equal(up.requests.length, 1, "nothing refused reached the API");

  t.equal(await get(`${base}/orders/7`, access, { "x-remote-user": "root", "x-client-id": "forged" }), 200);
  const seen = up.requests[1];
  t.equal(seen?.url, "/orders/7");
  t.equal(seen?.headers["x-remote-user"], "alice", "claimHeaders: the user name");
  t.equal(seen?.headers["x-client-id"], clientId, "claimHeaders: the client");
  t.equal(seen?.headers["x-auth-request-user"], "user-1");
  t.equal(seen?.headers["x-auth-request-groups"], "staff");
  t.equal(seen?.headers.authorization, undefined, "forwardToken: false: the API never sees the token");

  cli.signal("SIGTERM");
  t.equal(await cli.exited, 0);
});
