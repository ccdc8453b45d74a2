/**
 * Proves the emulator launchers work: each starts, seeds a pool, issues tokens with the claims
 * we rely on, serves a JWKS holding the tokens' kid, and is gone (port closed) after stop(),
 * including when the test process itself is SIGKILLed.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import {
  type Emulator,
  EmulatorUnavailableError,
  launchEmulator,
  type SeededPool,
  type SeedOptions,
  seedPool,
  startCognitoLocal,
} from "../../demo/cognito-emulator.js";
import { decodeJwt, portIsOpen, withEmulator } from "./emulators.js";
import { seedMotoPool, startMoto } from "./moto.js";
import { waitFor } from "./wait.js";

interface Flavour {
  name: string;
  start: () => Promise<Emulator>;
  seed: (endpoint: string, opts: SeedOptions) => Promise<SeededPool>;
  /** The issuer format this emulator is known to use. */
  expectedIssuer: (endpoint: string, poolId: string) => string;
  region: string;
  /** Token lifetime (exp - iat) this emulator is known to use, in seconds. */
  lifetime: number;
}

const flavours: Flavour[] = [
  {
    name: "cognito-local",
    start: startCognitoLocal,
    seed: seedPool,
    expectedIssuer: (endpoint, poolId) => `${endpoint}/${poolId}`,
    region: "local",
    lifetime: 24 * 3600,
  },
  {
    name: "moto_server",
    start: startMoto,
    seed: seedMotoPool,
    expectedIssuer: (_endpoint, poolId) => `https://cognito-idp.us-east-1.amazonaws.com/${poolId}`,
    region: "us-east-1",
    lifetime: 3600,
  },
];

const alice = {
  username: "alice",
  password: "Passw0rd!", // moto enforces AWS's default policy: upper, lower, digit, symbol
  email: "alice@example.com",
  groups: ["admin"],
  attributes: { "custom:tenant": "acme" },
};

// Child mode (see the "no orphans" test): start the emulators, report endpoints, wait to be killed.
if (process.env.CUPBEARER_ORPHAN_PROBE === "1") {
  const started = await Promise.all(flavours.map((f) => f.start().catch(() => undefined)));
  for (const emulator of started) if (emulator) process.stdout.write(`ENDPOINT ${emulator.endpoint}\n`);
  process.stdout.write("READY\n");
  setInterval(() => {}, 60_000); // the child and its emulators are unref'd; stay alive until killed
} else {
  // Real processes on a shared machine: startup can take seconds under load (default is 30 s).
  t.setTimeout(120_000);
  for (const flavour of flavours) {
    t.test(flavour.name, async (t) => {
      const started = Date.now();
      const emulator = await withEmulator(t, flavour.name, flavour.start);
      if (!emulator) return;
      t.comment(`${flavour.name} started in ${Date.now() - started} ms at ${emulator.endpoint}`);
      t.match(emulator.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/, "endpoint is on 127.0.0.1");

      const pool = await flavour.seed(emulator.endpoint, { groups: ["admin", "readers"], users: [alice] });
      t.equal(pool.region, flavour.region);
      t.equal(pool.issuer, flavour.expectedIssuer(emulator.endpoint, pool.poolId), "issuer format");

      const { idToken, accessToken } = await pool.signIn(alice.username, alice.password);
      const id = decodeJwt(idToken);
      const access = decodeJwt(accessToken);

      t.equal(id.payload.iss, pool.issuer, "ID token iss");
      t.equal(id.payload.token_use, "id");
      t.equal(id.payload.aud, pool.clientId, "ID token aud is the client id");
      t.equal(id.payload["cognito:username"], "alice");
      t.equal(id.payload.email, alice.email);
      t.same(id.payload["cognito:groups"], ["admin"]);
      t.equal(id.payload["custom:tenant"], "acme", "custom attributes reach the ID token");

      t.equal(access.payload.iss, pool.issuer, "access token iss");
      t.equal(access.payload.token_use, "access");
      t.equal(access.payload.client_id, pool.clientId, "access token client_id");
      t.notOk("aud" in access.payload, "access tokens have no aud (as in real Cognito)");
      t.equal(access.payload.username, "alice");
      t.equal(access.payload.scope, "aws.cognito.signin.user.admin");
      t.same(access.payload["cognito:groups"], ["admin"]);
      t.equal(access.payload.sub, id.payload.sub, "both tokens share sub");

      for (const { header, payload } of [id, access]) {
        t.equal(header.alg, "RS256");
        t.equal(Number(payload.exp) - Number(payload.iat), flavour.lifetime, "known token lifetime");
      }

      const response = await fetch(pool.jwksUri);
      t.equal(response.status, 200, "JWKS is served");
      const jwks = (await response.json()) as { keys: Array<{ kid?: string; alg?: string; kty?: string }> };
      const kids = jwks.keys.map((k) => k.kid);
      t.ok(kids.includes(String(id.header.kid)), `ID token kid ${String(id.header.kid)} is in the JWKS`);
      t.ok(kids.includes(String(access.header.kid)), "access token kid is in the JWKS");

      await emulator.stop();
      t.equal(await portIsOpen(emulator.endpoint), false, "port is closed after stop()");
      await emulator.stop(); // idempotent
    });
  }

  t.test("a missing moto_server is reported as unavailable", async (t) => {
    const savedPath = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      await t.rejects(startMoto(), EmulatorUnavailableError);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  t.test("startup failures carry the emulator's last output", async (t) => {
    const crash = launchEmulator(
      async (port) => ({
        command: "/bin/sh",
        args: ["-c", "echo boom on purpose >&2; exit 3"],
        endpoint: `http://127.0.0.1:${port}`,
        isReady: async () => false,
      }),
      { name: "crasher" },
    );
    await t.rejects(crash, /crasher failed to start: exited early \(code 3[\s\S]*boom on purpose/);

    const hang = launchEmulator(
      async (port) => ({
        command: "/bin/sh",
        args: ["-c", "echo still booting; exec sleep 60"],
        endpoint: `http://127.0.0.1:${port}`,
        isReady: async () => false,
      }),
      { name: "sleeper", timeoutMs: 1_500 },
    );
    await t.rejects(hang, /sleeper failed to start: not ready after 1500 ms[\s\S]*still booting/);
  });

  t.test("no orphans when the test process is SIGKILLed", async (t) => {
    const self = fileURLToPath(import.meta.url);
    const env: NodeJS.ProcessEnv = { ...process.env, CUPBEARER_ORPHAN_PROBE: "1" };
    for (const key of Object.keys(env)) if (key.startsWith("TAP")) delete env[key];
    const child = spawn(process.execPath, [...process.execArgv, self], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    t.teardown(() => {
      child.kill("SIGKILL");
    });
    const endpoints = await readEndpoints(t, child.stdout);
    t.ok(endpoints.length >= 1, `probe started ${endpoints.join(", ")}`);
    for (const endpoint of endpoints) t.ok(await portIsOpen(endpoint), `${endpoint} is up`);

    child.kill("SIGKILL"); // no `exit` handler runs: only the stdin guard can clean up
    for (const endpoint of endpoints) {
      const gone = await waitFor(
        `${endpoint} to close after the SIGKILL`,
        async () => ((await portIsOpen(endpoint)) ? undefined : true),
        { timeoutMs: 10_000, intervalMs: 100 },
      ).catch(() => false);
      t.ok(gone, `${endpoint} is gone`);
    }
  });
}

/** Collects `ENDPOINT <url>` lines from the probe until it prints READY. */
function readEndpoints(t: Test, stream: NodeJS.ReadableStream | null): Promise<string[]> {
  return new Promise((resolve, reject) => {
    if (!stream) return reject(new Error("no stdout"));
    let buffered = "";
    const timer = setTimeout(() => reject(new Error(`probe not ready; output: ${buffered}`)), 60_000);
    stream.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      if (/^READY$/m.test(buffered)) {
        clearTimeout(timer);
        resolve([...buffered.matchAll(/^ENDPOINT (\S+)$/gm)].map((m) => m[1] ?? ""));
      }
    });
    stream.on("end", () => {
      if (/^READY$/m.test(buffered)) return; // killed by us afterwards: expected
      clearTimeout(timer);
      t.comment(`probe output: ${buffered}`);
      reject(new Error("probe exited before READY"));
    });
  });
}
