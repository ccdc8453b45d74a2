/**
 * Pods sharing a store in any topology (one server, Sentinel, Cluster) for the store's tests:
 * each pod a RedisStore and a CredentialsProvider on the real Cognito Identity client, against a
 * recording identity-pool fake; and the store's behaviours every topology must keep.
 */
import { randomBytes } from "node:crypto";
import type { Test } from "tap";
import { type IdentityPoolFake, startIdentityPoolFake } from "../../bench/identity-pool-fake.js";
import { CredentialsProvider, type CredentialsResult } from "../../src/aws/credentials.js";
import type { RedisWhere } from "../../src/store/redis-client.js";
import {
  RedisStore,
  type StoreObserver,
  type StoreOp,
  type StoreResult,
} from "../../src/store/redis-store.js";
import { identityClient } from "./moto-aws.js";

const POOL = "us-east-1:00000000-0000-4000-8000-0000000000f2";
const ISSUER = "https://issuer.example.com";
const NS = `${POOL}|enhanced`;
export const KEY = randomBytes(32).toString("base64");

const idToken = (sub: string) =>
  `e30.${Buffer.from(JSON.stringify({ sub, nonce: randomBytes(8).toString("hex") })).toString("base64url")}.sig`;

export interface Counted extends StoreObserver {
  count(op: StoreOp, result: StoreResult): number;
  states: boolean[];
}

export function counted(): Counted {
  const ops: [StoreOp, StoreResult][] = [];
  const states: boolean[] = [];
  return {
    states,
    operation: (op, result) => ops.push([op, result]),
    stateChange: (up) => states.push(up),
    count: (op, result) => ops.filter(([o, r]) => o === op && r === result).length,
  };
}

export interface Pod {
  store: RedisStore;
  provider: CredentialsProvider;
  observer: Counted;
}

export interface Fleet {
  fake: IdentityPoolFake;
  pod(where?: RedisWhere, options?: { timeoutMs?: number; connectMs?: number }): Promise<Pod>;
}

export async function fleet(t: Test, where: RedisWhere): Promise<Fleet> {
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

export const ok = (r: CredentialsResult) => {
  if (!r.ok) throw new Error(`expected credentials, got ${r.error.kind}: ${r.error.message}`);
  return r.credentials;
};
export const sentinelOf = (w: RedisWhere) => w.sentinel as NonNullable<RedisWhere["sentinel"]>;
export const get = (pod: Pod, sub: string) =>
  pod.provider.get({ issuer: ISSUER, sub, idToken: idToken(sub) });

/** The store's behaviours, the same in every topology. */
export async function behaviours(t: Test, f: Fleet, dump: () => Promise<Map<string, string>>): Promise<void> {
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
