/**
 * The shared store on a Redis Cluster of three primaries, against real servers
 * (test/support/redis-topologies.ts): the store's behaviours with records spread over the nodes,
 * the loss of a node while the store is in use (no failed request, then recovery), and
 * topology settings that cannot work.
 */
import { randomBytes } from "node:crypto";
import t from "tap";
import type { RedisWhere } from "../../src/store/redis-client.js";
import { RedisStore } from "../../src/store/redis-store.js";
import { clusterFor, REDIS_PASSWORD } from "../support/redis-topologies.js";
import { behaviours, fleet, get, KEY, ok } from "../support/store-fleet.js";
import { waitFor } from "../support/wait.js";

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
    t.ok(worst < 3_000, `every request answered, the slowest in ${Math.round(worst)} ms`);
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
