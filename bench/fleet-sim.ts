// Fleet simulation: `npm run fleet-sim` (= build, then `node dist/bench/fleet-sim.js`), outside
// `npm test`. Starts N cupbearers in this process (real HTTP on 127.0.0.1), a recording identity
// pool (bench/identity-pool-fake.ts), an OIDC issuer and an upstream, and sends each of M users'
// R requests to a pod chosen at random: once without a store, once with a redis-server every pod
// shares (needs `redis-server` on the PATH; skipped with a note otherwise). Prints the Cognito
// calls per user measured, then what a fleet of F pods would put on the identity pool at U new
// users a minute, beside GetId's default quota (25/s per account and region).
//
// Options: --pods N (4) --users M (200) --requests R (20) --fleet F (50)
//          --new-users-per-minute U (1000)
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes, randomUUID, sign } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { parseArgs } from "node:util";
import { freePort } from "../demo/cognito-emulator.js";
import { type App, createApp } from "../src/app.js";
import { parseConfigText } from "../src/config/load.js";
import { createLogger } from "../src/log.js";
import { type IdentityPoolFake, startIdentityPoolFake } from "./identity-pool-fake.js";

const GET_ID_QUOTA_PER_SECOND = 25;
const POOL_ID = "us-east-1:00000000-0000-4000-8000-0000000051f1";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "4" },
    users: { type: "string", default: "200" },
    requests: { type: "string", default: "20" },
    fleet: { type: "string", default: "50" },
    "new-users-per-minute": { type: "string", default: "1000" },
  },
});
const whole = (name: string, text: string | undefined, min: number, max: number): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`--${name} must be a whole number from ${min} to ${max}\n`);
    process.exit(2);
  }
  return n;
};
const PODS = whole("pods", values.pods, 1, 64);
const USERS = whole("users", values.users, 1, 100_000);
const REQUESTS = whole("requests", values.requests, 1, 10_000);
const FLEET = whole("fleet", values.fleet, 1, 100_000);
const NEW_PER_MINUTE = whole("new-users-per-minute", values["new-users-per-minute"], 1, 10_000_000);

function listening(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

/** A tiny OIDC issuer: one RSA key, its JWKS, ID tokens for any `sub`. */
async function startIssuer() {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = randomUUID();
  const jwks = JSON.stringify({
    keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }],
  });
  const server = createServer((_req, res) =>
    res.writeHead(200, { "content-type": "application/json" }).end(jwks),
  );
  const port = await listening(server);
  const issuer = `http://127.0.0.1:${port}`;
  const b64 = (v: string | Buffer) => Buffer.from(v).toString("base64url");
  const header = b64(JSON.stringify({ alg: "RS256", kid, typ: "JWT" }));
  return {
    issuer,
    jwksUri: `${issuer}/jwks.json`,
    token(sub: string): string {
      const now = Math.floor(Date.now() / 1000);
      const payload = b64(
        JSON.stringify({ iss: issuer, sub, aud: "sim-client", token_use: "id", iat: now, exp: now + 3600 }),
      );
      return `${header}.${payload}.${b64(sign("sha256", Buffer.from(`${header}.${payload}`), privateKey))}`;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** redis-server on a free port, nothing saved; undefined when it is not installed. */
async function startRedis(): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  if (spawnSync("redis-server", ["--version"]).status !== 0) return undefined;
  const port = await freePort();
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) break;
    if (Date.now() > deadline) throw new Error("redis-server did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGKILL");
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

interface Outcome {
  getId: number;
  exchanges: number;
  failed: number;
  seconds: number;
}

async function simulate(
  issuer: Awaited<ReturnType<typeof startIssuer>>,
  upstream: string,
  fake: IdentityPoolFake,
  redisUrl: string | undefined,
): Promise<Outcome> {
  const store = redisUrl
    ? `store:\n  redis: { url: "${redisUrl}", keyPrefix: "sim-${randomUUID()}:", encryptionKeys: ["${randomBytes(32).toString("base64")}"], timeoutMs: 1000 }\n`
    : "";
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
log: { level: silent }
issuers:
  - { id: sim, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [sim-client] }
identityPools:
  - { id: main, identityPoolId: "${POOL_ID}", region: us-east-1, endpoint: "${fake.endpoint}" }
routes:
  - id: files
    upstream:
      url: "${upstream}/bucket"
      aws: { service: s3, region: us-east-1, identityPool: main }
    auth: { tokenUse: id }
${store}`;
  const config = parseConfigText(yaml, {});
  const apps: App[] = Array.from({ length: PODS }, () =>
    createApp(config, { logger: createLogger("silent") }),
  );
  const ports = await Promise.all(apps.map(async (a) => (await a.start()).port));
  for (const app of apps) {
    while (!app.ready()) await new Promise((r) => setTimeout(r, 20));
  }
  fake.reset();
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: USERS }, async (_, u) => {
      const token = issuer.token(`sim-user-${u}`);
      for (let r = 0; r < REQUESTS; r++) {
        const port = ports[Math.floor(Math.random() * PODS)] as number;
        const res = await fetch(`http://127.0.0.1:${port}/u${u}/r${r}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        await res.arrayBuffer();
        if (res.status !== 200) failed++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(apps.map((a) => a.stop()));
  const counts = fake.counts();
  return { getId: counts.GetId ?? 0, exchanges: counts.GetCredentialsForIdentity ?? 0, failed, seconds };
}

/** Expected distinct pods a user's requests reach when each goes to one of `pods` at random. */
const podsReached = (pods: number, requests: number) => pods * (1 - (1 - 1 / pods) ** requests);

async function main(): Promise<void> {
  const issuer = await startIssuer();
  const upstream = createServer((_req, res) => res.writeHead(200).end("ok"));
  const upstreamUrl = `http://127.0.0.1:${await listening(upstream)}`;
  const fake = await startIdentityPoolFake();
  const redis = await startRedis();
  const line = (s = "") => process.stdout.write(`${s}\n`);
  try {
    line(`fleet-sim: ${PODS} pods, ${USERS} users x ${REQUESTS} requests, each to a pod at random`);
    const runs: [string, Outcome | undefined][] = [
      ["without a store", await simulate(issuer, upstreamUrl, fake, undefined)],
    ];
    runs.push([
      "with a shared store",
      redis ? await simulate(issuer, upstreamUrl, fake, redis.url) : undefined,
    ]);
    line();
    line("run                    GetId/user  exchanges/user  failed  seconds");
    for (const [name, o] of runs) {
      if (o === undefined) {
        line(
          `${name.padEnd(22)} (skipped: redis-server is not on the PATH; apt-get install -y redis-server)`,
        );
        continue;
      }
      line(
        `${name.padEnd(22)} ${(o.getId / USERS).toFixed(2).padStart(10)}  ${(o.exchanges / USERS).toFixed(2).padStart(14)}  ${String(o.failed).padStart(6)}  ${o.seconds.toFixed(1).padStart(7)}`,
      );
    }
    const expected = podsReached(PODS, REQUESTS);
    line(
      `(without a store, a user's ${REQUESTS} requests are expected to reach ${expected.toFixed(2)} of ${PODS} pods)`,
    );
    line();
    const perSecond = NEW_PER_MINUTE / 60;
    const fleetReach = podsReached(FLEET, REQUESTS);
    const without = perSecond * fleetReach;
    const withStore = perSecond;
    line(`a fleet of ${FLEET} pods, ${NEW_PER_MINUTE} new users a minute, ${REQUESTS} requests each:`);
    line(
      `  without a store: ${without.toFixed(0)} GetId/s (each user reaches ${fleetReach.toFixed(1)} pods), ${(without / GET_ID_QUOTA_PER_SECOND).toFixed(1)}x the default quota of ${GET_ID_QUOTA_PER_SECOND}/s`,
    );
    line(
      `  with a store:    ${withStore.toFixed(0)} GetId/s (one per user), ${(withStore / GET_ID_QUOTA_PER_SECOND).toFixed(1)}x the quota`,
    );
    line("  (credential exchanges: the same numbers, against GetCredentialsForIdentity's quota)");
  } finally {
    await redis?.stop();
    await fake.close();
    await issuer.close();
    upstream.closeAllConnections();
    upstream.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`fleet-sim failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
