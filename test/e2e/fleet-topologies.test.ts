/**
 * Two cupbearers from a YAML config, sharing a store through Redis Sentinel and then on a Redis
 * Cluster (real servers, passwords from `${VARIABLES}`): one GetId and one exchange per user for
 * both pods, ready while the store works, and no password in the logs.
 */
import { randomBytes } from "node:crypto";
import t, { type Test } from "tap";
import { type IdentityPoolFake, startIdentityPoolFake } from "../../bench/identity-pool-fake.js";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { clusterFor, REDIS_PASSWORD, SENTINEL_PASSWORD, sentinelFor } from "../support/redis-topologies.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";

const POOL_ID = "us-east-1:00000000-0000-4000-8000-00000000f2ee";

async function twoPods(t: Test, storeYaml: string): Promise<void> {
  const [issuer, up, fake]: [TestIssuer, RecordingUpstream, IdentityPoolFake] = await Promise.all([
    startIssuer(),
    startUpstream(),
    startIdentityPoolFake(),
  ]);
  up.handler = (_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  const yaml = `
issuers:
  - { id: test, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }
identityPools:
  - { id: main, identityPoolId: "${POOL_ID}", region: us-east-1, endpoint: "${fake.endpoint}" }
routes:
  - id: files
    match: { pathPrefix: /files }
    stripPrefix: true
    upstream:
      url: "${up.url}/bucket"
      aws: { service: s3, region: us-east-1, identityPool: main }
    auth: { tokenUse: id }
store:
  redis:
${storeYaml}
    keyPrefix: "e2e:"
    encryptionKeys: ["\${STORE_KEY}"]
    timeoutMs: 1000
`;
  const env = {
    STORE_KEY: randomBytes(32).toString("base64"),
    REDIS_PASSWORD,
    SENTINEL_PASSWORD,
  };
  const pods: RunningApp[] = await Promise.all([startApp(yaml, env), startApp(yaml, env)]);
  t.teardown(async () => {
    await Promise.all(pods.map((p) => p.stop()));
    await Promise.all([issuer.close(), up.close(), fake.close()]);
  });
  await Promise.all(pods.map((p) => waitReady(p.adminUrl)));

  const statuses: number[] = [];
  for (let u = 0; u < 10; u++) {
    const token = await issuer.token({ sub: `user-${u}`, token_use: "id", aud: "test-client" });
    for (let r = 0; r < 4; r++) {
      const res = await fetch(`${(pods[r % 2] as RunningApp).url}/files/u${u}/r${r}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  }
  t.ok(
    statuses.every((s) => s === 200),
    "every request answered 200",
  );
  t.same(fake.counts(), { GetId: 10, GetCredentialsForIdentity: 10 }, "one GetId and one exchange per user");
  const metrics = await (await fetch(`${pods[1]?.adminUrl}/metrics`)).text();
  t.match(metrics, /cupbearer_store_operations_total\{op="get_credentials",result="hit"\} [1-9]/);
  for (const pod of pods) {
    const logs = JSON.stringify(pod.logs);
    t.ok(logs.includes("listening"), "the log was read");
    t.notOk(logs.includes(REDIS_PASSWORD) || logs.includes(SENTINEL_PASSWORD), "no password logged");
    t.notMatch(logs, /shared store not/, "the store answered from the start");
  }
}

t.test("two pods through Redis Sentinel", async (t) => {
  const set = await sentinelFor(t);
  if (set === undefined) return;
  await twoPods(
    t,
    `    sentinel:
      name: ${set.name}
      sentinels: [${set.sentinels.map((s) => `"${s}"`).join(", ")}]
      password: "\${REDIS_PASSWORD}"
      sentinelPassword: "\${SENTINEL_PASSWORD}"`,
  );
});

t.test("two pods on a Redis Cluster", async (t) => {
  const cluster = await clusterFor(t);
  if (cluster === undefined) return;
  await twoPods(
    t,
    `    cluster:
      nodes: [${cluster.nodes.map((s) => `"${s}"`).join(", ")}]
      password: "\${REDIS_PASSWORD}"`,
  );
});
