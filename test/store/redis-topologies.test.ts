/**
 * The shared store through Redis Sentinel and on a Redis Cluster, against real servers
 * (test/support/redis-topologies.ts): the store's behaviours (sealed records shared between pods,
 * the fleet-wide single flight, rate limits) in both topologies, a Sentinel failover and the loss
 * of a Cluster node while the store is in use (bounded errors, no failed request, then recovery),
 * and settings that cannot work.
 */
import { randomBytes } from "node:crypto";
import t, { type Test } from "tap";
import { type IdentityPoolFake, startIdentityPoolFake } from "../../bench/identity-pool-fake.js";
import { CredentialsProvider, type CredentialsResult } from "../../src/aws/credentials.js";
import type { RedisWhere } from "../../src/store/redis-client.js";
import {
  RedisStore,
  type StoreObserver,
  type StoreOp,
  type StoreResult,
} from "../../src/store/redis-store.js";
import { freePort } from "../support/emulators.js";
import { identityClient } from "../support/moto-aws.js";
import {
  clusterFor,
  REDIS_PASSWORD,
  SENTINEL_PASSWORD,
  type SentinelSet,
  sentinelFor,
} from "../support/redis-topologies.js";
import { waitFor } from "../support/wait.js";

const POOL = "us-east-1:00000000-0000-4000-8000-0000000000f2";
const ISSUER = "https://issuer.example.com";
const NS = `${POOL}|enhanced`;
const KEY = randomBytes(32).toString("base64");

const idToken = (sub: string) =>
  `e30.${Buffer.from(JSON.stringify({ sub, nonce: randomBytes(8).toString("hex") })).toString("base64url")}.sig`;

interface Counted extends StoreObserver {
  count(op: StoreOp, result: StoreResult): number;
  states: boolean[];
}

function counted(): Counted {
  const ops: [StoreOp, StoreResult][] = [];
  const states: boolean[] = [];
  return {
    states,
    operation: (op, result) => ops.push([op, result]),
    stateChange: (up) => states.push(up),
    count: (op, result) => ops.filter(([o, r]) => o === op && r === result).length,
  };
}

interface Pod {
  store: RedisStore;
  provider: CredentialsProvider;
  observer: Counted;
}

interface Fleet {
  fake: IdentityPoolFake;
  pod(where?: RedisWhere, options?: { timeoutMs?: number; connectMs?: number }): Promise<Pod>;
}

async function fleet(t: Test, where: RedisWhere): Promise<Fleet> {
  const fake = await startIdentityPoolFake();
  const client = identityClient(fake.endpoint);
  const stores: RedisStore[] = [];
  t.teardown(async () => {
    await Promise.all(stores.map((s) => s.close()));
    client.destroy();
    await fake.close();
  });
  return {
    fake,
    async pod(other = where, options = {}) {
      const observer = counted();
      const store = new RedisStore({
        ...other,
        keyPrefix: "topo:",
        encryptionKeys: [KEY],
        timeoutMs: options.timeoutMs ?? 500,
        observer,
      });
      stores.push(store);
      const connectMs = options.connectMs ?? 10_000;
      if (connectMs > 0 && !(await store.connected(connectMs))) throw new Error("the store did not connect");
      const provider = new CredentialsProvider({
        identityPoolId: POOL,
        region: "us-east-1",
        client,
        now: Date.now,
        shared: store.credentialsCache(NS),
      });
      return { store, provider, observer };
    },
  };
}

const ok = (r: CredentialsResult) => {
  if (!r.ok) throw new Error(`expected credentials, got ${r.error.kind}: ${r.error.message}`);
  return r.credentials;
};
const sentinelOf = (w: RedisWhere) => w.sentinel as NonNullable<RedisWhere["sentinel"]>;
const get = (pod: Pod, sub: string) => pod.provider.get({ issuer: ISSUER, sub, idToken: idToken(sub) });

/** The store's behaviours, the same in every topology. */
async function behaviours(t: Test, f: Fleet, dump: () => Promise<Map<string, string>>): Promise<void> {
  const [a, b] = [await f.pod(), await f.pod()];
  const subs = Array.from({ length: 8 }, (_, i) => `user-${i}`);
  const first = [];
  for (const sub of subs) first.push(ok(await get(a, sub)));
  t.same(f.fake.counts(), { GetId: 8, GetCredentialsForIdentity: 8 });
  for (const [i, sub] of subs.entries())
    t.same(ok(await get(b, sub)), first[i], `${sub}: the same credentials`);
  t.same(
    f.fake.counts(),
    { GetId: 8, GetCredentialsForIdentity: 8 },
    "the second pod took all from the store",
  );
  t.equal(b.observer.count("get_credentials", "hit"), 8);

  const stored = await dump();
  t.ok(stored.size >= 16, `${stored.size} records stored`);
  for (const [key, value] of stored) {
    if (!key.startsWith("topo:")) continue;
    t.match(value, /^c1\./, `${key} is sealed`);
    for (const secret of [...f.fake.secrets, ...subs, ...first.map((c) => c.identityId)])
      if (value.includes(secret) || key.includes(secret)) t.fail(`${key} holds a secret or id in clear`);
  }

  f.fake.reset();
  f.fake.delayMs = 100;
  const pods = [a, b, ...(await Promise.all([f.pod(), f.pod()]))];
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => get(pods[i % 4] as Pod, "crowd")));
  f.fake.delayMs = 0;
  t.equal(new Set(results.map((r) => ok(r).accessKeyId)).size, 1, "every pod hands out the same credentials");
  t.same(
    f.fake.counts(),
    { GetId: 1, GetCredentialsForIdentity: 1 },
    "one GetId and one exchange for the fleet",
  );

  const answers = [];
  for (let i = 0; i < 5; i++)
    answers.push((await pods[i % 2]?.store.rateLimit("route", "caller", 60_000, 3))?.allowed);
  t.same(answers, [true, true, true, false, false], "one budget of 3 across pods");
  t.same(await a.store.rateLimit("route", "someone else", 60_000, 3), { allowed: true, retryAfterMs: 0 });
}

t.test("through Redis Sentinel", async (t) => {
  const set = await sentinelFor(t);
  if (set === undefined) return;
  const where: RedisWhere = {
    sentinel: {
      name: set.name,
      sentinels: set.sentinels,
      password: REDIS_PASSWORD,
      sentinelPassword: SENTINEL_PASSWORD,
      username: "",
    },
  };
  const dumpPrimary = (s: SentinelSet) => async () => {
    const port = await s.primaryPort();
    const out = new Map<string, string>();
    for (const key of (await s.command(port, "KEYS", "topo:*")) as string[]) {
      const v = await s.command(port, "GET", key);
      if (typeof v === "string") out.set(key, v);
    }
    return out;
  };

  t.test("shared, sealed, one flight, one budget", async (t) => {
    await behaviours(t, await fleet(t, where), dumpPrimary(set));
  });

  t.test("an unreachable Sentinel first in the list is passed over", async (t) => {
    const f = await fleet(t, where);
    const sentinel = sentinelOf(where);
    const nobody = await freePort();
    const pod = await f.pod({
      sentinel: { ...sentinel, sentinels: [`127.0.0.1:${nobody}`, ...set.sentinels] },
    });
    ok(await get(pod, "sam"));
    t.equal(pod.observer.count("put_credentials", "ok"), 1, "written through the Sentinel's primary");
  });

  t.test("wrong credentials: the store never connects, requests go on without it", async (t) => {
    const f = await fleet(t, where);
    for (const bad of [
      { ...sentinelOf(where), sentinelPassword: "wrong" },
      { ...sentinelOf(where), password: "wrong" },
    ]) {
      const pod = await f.pod({ sentinel: bad }, { connectMs: 0, timeoutMs: 200 });
      t.notOk(await pod.store.connected(500), "not connected");
      const started = performance.now();
      ok(await get(pod, "tom"));
      t.ok(performance.now() - started < 2_000, "served without the store, at once");
      t.ok(pod.observer.count("get_identity", "error") >= 1, "the failed call is counted");
    }
  });

  t.test("a failover while the store is in use: bounded errors, then the new primary", async (t) => {
    const f = await fleet(t, where);
    const a = await f.pod({ ...where }, { timeoutMs: 200 });
    ok(await get(a, "before"));
    const oldPrimary = await set.primaryPort();
    const failing = set.failover();
    // Requests go on through the failover, every one answered, none waiting long for the store.
    let worst = 0;
    let n = 0;
    let done = false;
    void failing.finally(() => {
      done = true;
    });
    while (!done) {
      const started = performance.now();
      ok(await get(a, `during-${n++}`));
      worst = Math.max(worst, performance.now() - started);
    }
    const newPrimary = await failing;
    t.not(newPrimary, oldPrimary, `the Sentinel moved the primary from ${oldPrimary} to ${newPrimary}`);
    t.ok(worst < 2_000, `${n} requests during the failover, the slowest in ${Math.round(worst)} ms`);
    // The Sentinel then demotes the old primary, closing its clients' connections: until then
    // a pod may still write there (lost, as a cache may lose anything), then it moves over.
    await waitFor(
      "the old primary to be a replica",
      async () => (((await set.command(oldPrimary, "ROLE")) as unknown[])[0] === "slave" ? true : undefined),
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const started = performance.now();
    const b = await f.pod();
    await waitFor(
      "a's new records to reach another pod through the new primary",
      async () => {
        const sub = `after-${randomBytes(4).toString("hex")}`;
        ok(await get(a, sub));
        f.fake.reset();
        ok(await get(b, sub));
        return Object.keys(f.fake.counts()).length === 0 ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const took = performance.now() - started;
    t.ok(took < 20_000, `sharing back ${Math.round(took)} ms after the old primary was demoted`);
    t.ok(a.store.up, "the store reads as up");
  });
});

t.test("on a Redis Cluster", async (t) => {
  const cluster = await clusterFor(t);
  if (cluster === undefined) return;
  const where: RedisWhere = { cluster: { nodes: cluster.nodes.slice(0, 1), password: REDIS_PASSWORD } };

  t.test("shared, sealed, one flight, one budget; records spread over the nodes", async (t) => {
    await behaviours(t, await fleet(t, where), () => cluster.dump());
    const perNode = await Promise.all(
      cluster.ports.map(async (p) => ((await cluster.command(p, "KEYS", "topo:*")) as string[]).length),
    );
    t.ok(perNode.filter((n) => n > 0).length >= 2, `keys on several nodes: ${perNode.join(", ")}`);
  });

  t.test("the loss of a node: bounded errors, no failed request, then recovery", async (t) => {
    const f = await fleet(t, { cluster: { nodes: cluster.nodes, password: REDIS_PASSWORD } });
    const a = await f.pod(undefined, { timeoutMs: 200 });
    ok(await get(a, "first"));
    await cluster.kill(0);
    const started = performance.now();
    let worst = 0;
    for (let i = 0; i < 12; i++) {
      const s = performance.now();
      ok(await get(a, `lost-${i}`));
      worst = Math.max(worst, performance.now() - s);
    }
    t.ok(worst < 2_000, `every request answered, the slowest in ${Math.round(worst)} ms`);
    t.ok(
      a.observer.count("get_identity", "error") + a.observer.count("get_credentials", "error") >= 1,
      "calls to the lost node's slots fail, counted",
    );
    t.ok(performance.now() - started < 20_000);
    await cluster.start(0);
    const back = performance.now();
    const sub = await waitFor(
      "the store to answer on every slot again",
      async () => {
        const subs = Array.from({ length: 6 }, () => `back-${randomBytes(4).toString("hex")}`);
        const before = a.observer.count("put_credentials", "ok");
        for (const s of subs) ok(await get(a, s));
        return a.observer.count("put_credentials", "ok") - before === subs.length ? subs[0] : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    t.ok(performance.now() - back < 20_000, `recovered in ${Math.round(performance.now() - back)} ms`);
    t.ok(a.store.up, "the store reads as up");
    const b = await f.pod();
    f.fake.reset();
    ok(await get(b, sub as string));
    t.same(f.fake.counts(), {}, "sharing is back");
  });
});

t.test("topology settings that cannot work are refused at construction", async (t) => {
  const keys = [KEY];
  const cases: [string, RedisWhere, string][] = [
    ["none", {}, "the store needs exactly one of url, sentinel or cluster"],
    [
      "two",
      { url: "redis://127.0.0.1:1", cluster: { nodes: ["127.0.0.1:1"] } },
      "the store needs exactly one of url, sentinel or cluster",
    ],
    ["no nodes", { cluster: { nodes: [] } }, "the store needs at least one cluster node"],
    ["bad node", { cluster: { nodes: ["127.0.0.1"] } }, "a store cluster node must be host:port"],
    ["no sentinels", { sentinel: { name: "m", sentinels: [] } }, "the store needs at least one Sentinel"],
    ["bad sentinel", { sentinel: { name: "m", sentinels: ["x:0"] } }, "a store Sentinel must be host:port"],
  ];
  for (const [name, where, message] of cases)
    t.throws(() => new RedisStore({ ...where, encryptionKeys: keys }), { name: "RangeError", message }, name);
});
