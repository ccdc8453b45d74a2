/** `host:port` addresses of Sentinels and Cluster nodes: what is taken, and what is refused. */
import t from "tap";
import { parseHostPort } from "../../src/core/host-port.js";

t.test("addresses taken", async (t) => {
  const cases: [string, string, number][] = [
    ["127.0.0.1:26379", "127.0.0.1", 26379],
    ["redis-0.redis.default.svc.cluster.local:6379", "redis-0.redis.default.svc.cluster.local", 6379],
    ["a:1", "a", 1],
    ["[fd00::1]:65535", "fd00::1", 65535],
    ["[::ffff:10.0.0.1]:7000", "::ffff:10.0.0.1", 7000],
  ];
  for (const [text, host, port] of cases) t.strictSame(parseHostPort(text), { host, port }, text);
});

t.test("addresses refused", async (t) => {
  for (const text of [
    "",
    "127.0.0.1",
    "127.0.0.1:",
    ":6379",
    "a:0",
    "a:65536",
    "a:123456",
    "fd00::1:6379",
    "[10.0.0.1]:6379",
    "[fd00::1]",
    "redis://a:6379",
    "user@a:6379",
    "a:6379/0",
    "-a:6379",
    "a-:6379",
    "a b:6379",
  ])
    t.equal(parseHostPort(text), undefined, JSON.stringify(text));
});
