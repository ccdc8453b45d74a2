/**
 * The shared store against a real redis-server, with CredentialsProviders (one per "pod") on the
 * real Cognito Identity client and a recording identity-pool fake: what is shared, what is
 * sealed, the fleet-wide single flight, an outage, key rotation, a replayed record.
 */
import { randomBytes } from "node:crypto";
import t, { type Test } from "tap";
import { type IdentityPoolFake, startIdentityPoolFake } from "../../bench/identity-pool-fake.js";
import { CredentialsProvider, type CredentialsResult } from "../../src/aws/credentials.js";
import {
  RedisStore,
  type StoreObserver,
  type StoreOp,
  type StoreResult,
} from "../../src/store/redis-store.js";
import { identityClient } from "../support/moto-aws.js";
import { type RedisServer, redisFor } from "../support/redis.js";
import { waitFor } from "../support/wait.js";

const POOL = "us-east-1:00000000-0000-4000-8000-0000000000f1";
const ISSUER = "https://issuer.example.com";
/** The provider's identity cache key of `sub` (and, with no role or client, its flight key + "--"). */
const userKey = (sub: string) => `${ISSUER.length}:${ISSUER}${sub.length}:${sub}`;
const newKey = () => randomBytes(32).toString("base64");

/** A JWT-shaped ID token of `sub` (the fake reads only its payload). */
const idToken = (sub: string) =>
  `e30.${Buffer.from(JSON.stringify({ sub, nonce: randomBytes(8).toString("hex") })).toString("base64url")}.sig`;

interface Recorded extends StoreObserver {
  ops: [StoreOp, StoreResult][];
  states: boolean[];
  count(op: StoreOp, result: StoreResult): number;
}

function recorded(): Recorded {
  const ops: [StoreOp, StoreResult][] = [];
  const states: boolean[] = [];
  return {
    ops,
    states,
    operation: (op, result, seconds) => {
      if (!(seconds >= 0)) throw new Error("negative duration");
      ops.push([op, result]);
    },
    stateChange: (up) => states.push(up),
    count: (op, result) => ops.filter(([o, r]) => o === op && r === result).length,
  };
}

interface World {
  redis: RedisServer;
  fake: IdentityPoolFake;
  /** A pod: its own store connection and provider, sharing the server. */
  pod(options?: { keys?: string[]; prefix?: string; timeoutMs?: number; lockWaitMs?: number }): Promise<{
    store: RedisStore;
    provider: CredentialsProvider;
    observer: Recorded;
  }>;
}

async function world(t: Test): Promise<World | undefined> {
  const redis = await redisFor(t);
  if (redis === undefined) return undefined;
  const fake = await startIdentityPoolFake();
  const client = identityClient(fake.endpoint);
  const stores: RedisStore[] = [];
  t.teardown(async () => {
    await Promise.all(stores.map((s) => s.close()));
    client.destroy();
    await fake.close();
  });
  const sharedKey = newKey();
  return {
    redis,
    fake,
    async pod(options = {}) {
      const observer = recorded();
      const store = new RedisStore({
        url: redis.url,
        keyPrefix: options.prefix ?? "test:",
        encryptionKeys: options.keys ?? [sharedKey],
        timeoutMs: options.timeoutMs ?? 500,
        lockWaitMs: options.lockWaitMs ?? 3_000,
        observer,
      });
      stores.push(store);
      if (!(await store.connected(5_000))) throw new Error("the store did not connect");
      const provider = new CredentialsProvider({
        identityPoolId: POOL,
        region: "us-east-1",
        client,
        now: Date.now,
        shared: store.credentialsCache(`${POOL}|enhanced`),
      });
      return { store, provider, observer };
    },
  };
}

const ok = (_t: Test, r: CredentialsResult) => {
  if (!r.ok) throw new Error(`expected credentials, got ${r.error.kind}: ${r.error.message}`);
  return r.credentials;
};

t.test("a second pod takes the first pod's identity and credentials from the store", async (t) => {
  const w = await world(t);
  if (!w) return;
  const a = await w.pod();
  const b = await w.pod();
  const tokenA = idToken("alice");
  const first = ok(t, await a.provider.get({ issuer: ISSUER, sub: "alice", idToken: tokenA }));
  t.same(w.fake.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
  const tokenB = idToken("alice");
  const second = ok(t, await b.provider.get({ issuer: ISSUER, sub: "alice", idToken: tokenB }));
  t.same(w.fake.counts(), { GetId: 1, GetCredentialsForIdentity: 1 }, "nothing more reached Cognito");
  t.same(second, first, "the same credentials, read back whole");
  t.equal(b.observer.count("get_identity", "hit"), 1);
  t.equal(b.observer.count("get_credentials", "hit"), 1);
  // Now in b's local cache: answered at once, without the store.
  const before = b.observer.ops.length;
  const hit = b.provider.get({ issuer: ISSUER, sub: "alice", idToken: tokenB });
  t.notOk(hit instanceof Promise, "a local hit stays synchronous");
  t.equal(b.observer.ops.length, before, "and does not touch the store");

  t.test("nothing stored is usable without the key", async (t) => {
    const stored = await w.redis.dump();
    t.ok(stored.size >= 2, `${stored.size} keys stored`);
    for (const [key, value] of stored) {
      t.ok(key.startsWith("test:"), `${key} carries the prefix`);
      for (const secret of [
        ...w.fake.secrets,
        tokenA,
        tokenB,
        first.accessKeyId,
        first.identityId,
        "alice",
      ]) {
        t.notOk(
          value.includes(secret) || key.includes(secret),
          `${key} holds no secret, token or id in clear`,
        );
      }
      t.match(value, /^c1\./, "sealed");
    }
  });
});

t.test("a record replayed under another key is refused", async (t) => {
  const w = await world(t);
  if (!w) return;
  const a = await w.pod();
  const ns = `${POOL}|enhanced`;
  const mallory = ok(
    t,
    await a.provider.get({ issuer: ISSUER, sub: "mallory", idToken: idToken("mallory") }),
  );
  const victim = ok(t, await a.provider.get({ issuer: ISSUER, sub: "victim", idToken: idToken("victim") }));
  const key = (kind: "id" | "cr", sub: string, identityId: string) =>
    a.store.keyOf(kind, ns, kind === "id" ? userKey(sub) : `${identityId.length}:${identityId}--`);
  const copy = async (kind: "id" | "cr") => {
    const from = key(kind, "mallory", mallory.identityId);
    const to = key(kind, "victim", victim.identityId);
    t.equal(
      await w.redis.command("COPY", from, to, "REPLACE"),
      "1",
      `mallory's ${kind} record written under victim's key`,
    );
  };

  await copy("cr");
  w.fake.reset();
  const c = await w.pod();
  const fresh = ok(t, await c.provider.get({ issuer: ISSUER, sub: "victim", idToken: idToken("victim") }));
  t.ok(c.observer.count("get_credentials", "rejected") >= 1, "the replayed credentials record does not open");
  t.same(
    w.fake.counts(),
    { GetCredentialsForIdentity: 1 },
    "the pod asked Cognito for victim's own credentials",
  );
  t.equal(fresh.identityId, victim.identityId);
  t.not(fresh.accessKeyId, mallory.accessKeyId);

  await copy("id");
  w.fake.reset();
  const d = await w.pod();
  const again = ok(t, await d.provider.get({ issuer: ISSUER, sub: "victim", idToken: idToken("victim") }));
  t.ok(d.observer.count("get_identity", "rejected") >= 1, "the replayed identity record does not open");
  t.same(w.fake.counts(), { GetId: 1, GetCredentialsForIdentity: 1 }, "the pod asked Cognito itself");
  t.equal(again.identityId, victim.identityId, "victim keeps its own identity");
});

t.test(
  "fleet-wide single flight: concurrent first requests on many pods make one GetId and one exchange",
  async (t) => {
    const w = await world(t);
    if (!w) return;
    w.fake.delayMs = 100;
    const pods = await Promise.all(Array.from({ length: 6 }, () => w.pod()));
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (pods[i % pods.length] as (typeof pods)[number]).provider.get({
          issuer: ISSUER,
          sub: "bob",
          idToken: idToken("bob"),
        }),
      ),
    );
    const keys = new Set(results.map((r) => ok(t, r).accessKeyId));
    t.equal(keys.size, 1, "every pod hands out the same credentials");
    t.same(w.fake.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
    t.ok(
      pods.some((p) => p.observer.count("lock", "held") > 0),
      "the others waited on the lock",
    );
  },
);

t.test("a failed exchange releases the lock: a waiting pod tries with its own token", async (t) => {
  const w = await world(t);
  if (!w) return;
  const a = await w.pod();
  const b = await w.pod();
  w.fake.delayMs = 150;
  w.fake.failWith = "NotAuthorizedException";
  const first = a.provider.get({ issuer: ISSUER, sub: "carol", idToken: idToken("carol") });
  // b arrives while a holds the lock, and gets through once a has failed.
  await waitFor("a to hold the lock", () => (a.observer.count("lock", "ok") > 0 ? true : undefined));
  const second = b.provider.get({ issuer: ISSUER, sub: "carol", idToken: idToken("carol") });
  await waitFor("b to wait on the lock", () => (b.observer.count("lock", "held") > 0 ? true : undefined));
  w.fake.failWith = undefined;
  const r1 = await first;
  t.equal(r1.ok ? "ok" : r1.error.kind, "invalid_token");
  ok(t, await second);
});

t.test("a pod waits a bounded time for another pod's exchange, then goes on alone", async (t) => {
  const w = await world(t);
  if (!w) return;
  const b = await w.pod({ lockWaitMs: 200 });
  // Someone else (a stuck pod) holds the lock of dave's first exchange.
  await w.redis.command(
    "SET",
    b.store.keyOf("lk", `${POOL}|enhanced`, `${userKey("dave")}--`),
    "stuck",
    "PX",
    "60000",
  );
  const started = performance.now();
  ok(t, await b.provider.get({ issuer: ISSUER, sub: "dave", idToken: idToken("dave") }));
  const waited = performance.now() - started;
  t.ok(b.observer.count("lock", "held") >= 1, "it found the lock held");
  t.ok(waited >= 200 && waited < 5_000, `waited ${Math.round(waited)} ms, then asked Cognito itself`);
  t.same(w.fake.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
});

t.test(
  "key rotation: records of the old key open while it is listed, new records use the new key",
  async (t) => {
    const w = await world(t);
    if (!w) return;
    const [oldKey, nextKey] = [newKey(), newKey()];
    const before = await w.pod({ keys: [oldKey] });
    ok(t, await before.provider.get({ issuer: ISSUER, sub: "erin", idToken: idToken("erin") }));
    const during = await w.pod({ keys: [nextKey, oldKey] });
    ok(t, await during.provider.get({ issuer: ISSUER, sub: "erin", idToken: idToken("erin") }));
    t.same(
      w.fake.counts(),
      { GetId: 1, GetCredentialsForIdentity: 1 },
      "the rotated pod reads the old records",
    );
    ok(t, await during.provider.get({ issuer: ISSUER, sub: "frank", idToken: idToken("frank") }));
    const after = await w.pod({ keys: [nextKey] });
    w.fake.reset();
    ok(t, await after.provider.get({ issuer: ISSUER, sub: "frank", idToken: idToken("frank") }));
    t.same(w.fake.counts(), {}, "records sealed during rotation open with the new key alone");
    ok(t, await after.provider.get({ issuer: ISSUER, sub: "erin", idToken: idToken("erin") }));
    t.same(w.fake.counts(), { GetId: 1, GetCredentialsForIdentity: 1 }, "old-key records no longer open");
    t.ok(after.observer.count("get_identity", "rejected") >= 1);
  },
);

t.test(
  "an outage: requests go on with direct calls, each store call bounded, logged once per change",
  async (t) => {
    const w = await world(t);
    if (!w) return;
    const a = await w.pod({ timeoutMs: 200 });
    ok(t, await a.provider.get({ issuer: ISSUER, sub: "gina", idToken: idToken("gina") }));
    t.same(a.observer.states, [], "a store that works from the start is not announced");
    await w.redis.kill();
    await waitFor("the client to see the outage", () => (a.store.up ? undefined : true));
    const started = performance.now();
    for (const sub of ["hank", "ivan", "jill"])
      ok(t, await a.provider.get({ issuer: ISSUER, sub, idToken: idToken(sub) }));
    const took = performance.now() - started;
    t.ok(took < 3_000, `three new users served without the store in ${Math.round(took)} ms`);
    t.same(w.fake.counts(), { GetId: 4, GetCredentialsForIdentity: 4 }, "each asked Cognito directly");
    t.ok(a.observer.count("get_identity", "error") >= 3, "the failed calls are counted");
    t.same(a.observer.states, [false], "one state change, however many failures");
    t.equal(
      await a.store.rateLimit("r", "caller", 100, 1),
      undefined,
      "a rate-limit check reads as no answer",
    );

    await w.redis.start();
    await waitFor("the client to reconnect", () => (a.store.up ? true : undefined), { timeoutMs: 15_000 });
    t.same(a.observer.states, [false, true], "and one when it answers again");
    const b = await w.pod();
    ok(t, await a.provider.get({ issuer: ISSUER, sub: "kate", idToken: idToken("kate") }));
    w.fake.reset();
    ok(t, await b.provider.get({ issuer: ISSUER, sub: "kate", idToken: idToken("kate") }));
    t.same(w.fake.counts(), {}, "sharing is back");
  },
);

t.test("an identity Cognito no longer knows is forgotten by the fleet too", async (t) => {
  const w = await world(t);
  if (!w) return;
  const a = await w.pod();
  // A stale identity id in the store, sealed properly: Cognito answers ResourceNotFoundException.
  const ns = `${POOL}|enhanced`;
  await a.store
    .credentialsCache(ns)
    .saveIdentity(userKey("liam"), "us-east-1:00000000-dead-4000-8000-000000000000");
  const r = await a.provider.get({ issuer: ISSUER, sub: "liam", idToken: idToken("liam") });
  t.equal(r.ok ? "ok" : r.error.kind, "unavailable");
  t.equal(await w.redis.command("EXISTS", a.store.keyOf("id", ns, userKey("liam"))), "0");
  ok(t, await (await w.pod()).provider.get({ issuer: ISSUER, sub: "liam", idToken: idToken("liam") }));
});

t.test("rate limits in the store: one budget for every connection, GCRA on the store's clock", async (t) => {
  const w = await world(t);
  if (!w) return;
  const pods = [(await w.pod()).store, (await w.pod()).store];
  const answers = [];
  for (let i = 0; i < 6; i++)
    answers.push(await (pods[i % 2] as RedisStore).rateLimit("route", "caller", 60_000, 4));
  t.same(
    answers.map((a) => a?.allowed),
    [true, true, true, true, false, false],
    "a burst of 4, shared by both pods",
  );
  const refused = answers[4];
  t.ok(
    refused && refused.retryAfterMs > 55_000 && refused.retryAfterMs <= 60_000,
    `retry after ${refused?.retryAfterMs} ms`,
  );
  t.same(await pods[0]?.rateLimit("route", "other caller", 60_000, 4), { allowed: true, retryAfterMs: 0 });
  t.same(await pods[0]?.rateLimit("other route", "caller", 60_000, 4), { allowed: true, retryAfterMs: 0 });
});

t.test("bad settings are refused at construction", async (t) => {
  t.throws(() => new RedisStore({ url: "http://127.0.0.1:6379", encryptionKeys: [newKey()] }), {
    message: "the store URL must start with redis:// or rediss://",
  });
  t.throws(() => new RedisStore({ url: "redis://127.0.0.1:1", encryptionKeys: ["short"] }), RangeError);
});
