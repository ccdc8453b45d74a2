/**
 * The shared store through Redis Sentinel, against real servers (test/support/redis-topologies.ts):
 * the store's behaviours, an unreachable Sentinel, wrong credentials, and a failover while the
 * store is in use (no failed request, each store call bounded, then the new primary).
 */
import { randomBytes } from "node:crypto";
import t from "tap";
import type { RedisWhere } from "../../src/store/redis-client.js";
import { freePort } from "../support/emulators.js";
import {
  REDIS_PASSWORD,
  SENTINEL_PASSWORD,
  type SentinelSet,
  sentinelFor,
} from "../support/redis-topologies.js";
import { behaviours, fleet, get, ok, sentinelOf } from "../support/store-fleet.js";
import { waitFor } from "../support/wait.js";

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
      t.ok(performance.now() - started < 3_000, "served without the store, at once");
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
    t.ok(worst < 3_000, `${n} requests during the failover, the slowest in ${Math.round(worst)} ms`);
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
