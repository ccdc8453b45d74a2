/**
 * `store.redis.cluster.tls`, `store.redis.sentinel.tls` and `sentinelTls` against a real Redis
 * Cluster and a real Sentinel set that speak only TLS, with a test CA. The
 * store trusts Node's CA store, so the CA reaches it as users give theirs: NODE_EXTRA_CA_CERTS,
 * read when Node starts, hence a child process running the built store (dist/). Without the CA
 * the store never connects: the certificate is checked, not just the channel encrypted. Needs
 * dist/ (`npm run build`, which `npm test` runs first).
 */

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import t, { type Test } from "tap";
import type { RedisWhere } from "../../src/store/redis-client.js";
import { clusterFor, REDIS_PASSWORD, SENTINEL_PASSWORD, sentinelFor } from "../support/redis-topologies.js";
import { makeTestPki, type TestPki } from "../support/tls.js";

const STORE = pathToFileURL(join(import.meta.dirname, "../../dist/src/store/redis-store.js")).href;

// One sealed write and read back, one rate-limit step, on the store of the child's settings.
const SCRIPT = `
import { RedisStore } from ${JSON.stringify(STORE)};
const store = new RedisStore({
  ...JSON.parse(process.env.STORE_WHERE),
  keyPrefix: "tls:",
  encryptionKeys: [process.env.STORE_KEY],
  timeoutMs: 1000,
});
const connected = await store.connected(Number(process.env.WAIT_MS));
const cache = store.credentialsCache("pool");
await cache.saveIdentity("user", "us-east-1:00000000-0000-4000-8000-000000000001");
const identity = await cache.identity("user");
const limit = await store.rateLimit("route", "caller", 60000, 1);
await store.close();
console.log(JSON.stringify({ connected, identity: identity ?? null, limit: limit ?? null }));
`;

/** Runs the script with the store at `where`; its JSON answer. */
async function run(where: RedisWhere, env: Record<string, string>): Promise<unknown> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", SCRIPT], {
    env: {
      ...process.env,
      STORE_WHERE: JSON.stringify(where),
      STORE_KEY: randomBytes(32).toString("base64"),
      ...env,
    },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split("\n").pop() as string) as unknown;
}

async function trustedOrRefused(
  t: Test,
  where: RedisWhere,
  pki: TestPki,
  dump: () => Promise<Map<string, string>>,
) {
  t.same(
    await run(where, { NODE_EXTRA_CA_CERTS: pki.caFile, WAIT_MS: "15000" }),
    {
      connected: true,
      identity: "us-east-1:00000000-0000-4000-8000-000000000001",
      limit: { allowed: true, retryAfterMs: 0 },
    },
    "written, read back and counted over TLS",
  );
  const stored = await dump();
  t.ok(
    [...stored].some(([k, v]) => k.startsWith("tls:id:") && v.startsWith("c1.")),
    "the sealed record is in the store",
  );
  t.same(
    await run(where, { NODE_EXTRA_CA_CERTS: "", WAIT_MS: "1500" }),
    { connected: false, identity: null, limit: null },
    "a certificate from an unknown CA: never connected, every call a miss",
  );
}

t.test("a Cluster over TLS: trusted through NODE_EXTRA_CA_CERTS, refused without it", async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const cluster = await clusterFor(t, pki);
  if (cluster === undefined) return;
  await trustedOrRefused(
    t,
    { cluster: { nodes: cluster.nodes.slice(0, 1), password: REDIS_PASSWORD, tls: true } },
    pki,
    () => cluster.dump(),
  );
});

t.test(
  "Sentinel and servers over TLS: trusted through NODE_EXTRA_CA_CERTS, refused without it",
  async (t) => {
    const pki = makeTestPki();
    t.teardown(() => pki.remove());
    const set = await sentinelFor(t, pki);
    if (set === undefined) return;
    await trustedOrRefused(
      t,
      {
        sentinel: {
          name: set.name,
          sentinels: set.sentinels,
          password: REDIS_PASSWORD,
          sentinelPassword: SENTINEL_PASSWORD,
          tls: true,
          sentinelTls: true,
        },
      },
      pki,
      async () => {
        const port = await set.primaryPort();
        const out = new Map<string, string>();
        for (const key of (await set.command(port, "KEYS", "tls:*")) as string[]) {
          const v = await set.command(port, "GET", key);
          if (typeof v === "string") out.set(key, v);
        }
        return out;
      },
    );
  },
);
