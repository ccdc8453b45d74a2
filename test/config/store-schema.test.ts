/** `store.redis` and `routes[].rateLimit`: defaults, ranges and exact messages. */
import { randomBytes } from "node:crypto";
import t from "tap";
import { parseConfigText } from "../../src/config/load.js";
import { parseConfig } from "../../src/config/schema.js";
import { configEdits, type Edit, REMOVE } from "../support/config-edits.js";

const KEY = randomBytes(32).toString("base64");
const BASE = {
  issuers: [
    {
      id: "local",
      issuer: "http://127.0.0.1:9229/p",
      jwksUri: "http://127.0.0.1:9229/jwks",
      clientIds: ["c"],
    },
  ],
  routes: [
    {
      id: "api",
      upstream: "http://127.0.0.1:3000",
      rateLimit: { perCaller: { requests: 100, perSeconds: 1, burst: 200 } },
    },
  ],
  store: { redis: { url: "rediss://user:secret@redis.example:6380/2", encryptionKeys: [KEY] } },
};
const { edited, check } = configEdits(BASE);
const ONE_OF = "expected exactly one of url, sentinel or cluster";
const ADDRESS = "expected host:port (a port from 1 to 65535)";
const SENTINEL = {
  name: "mymaster",
  sentinels: ["10.0.0.1:26379", "[fd00::2]:26379", "sentinel-2.ns:26379"],
};
const CLUSTER = { nodes: ["redis-0.redis:6379"] };

t.test("defaults", async (t) => {
  const config = parseConfig(edited([]));
  t.strictSame(config.store, {
    redis: {
      url: "rediss://user:secret@redis.example:6380/2",
      keyPrefix: "cupbearer:",
      encryptionKeys: [KEY],
      timeoutMs: 250,
      lockWaitMs: 3000,
    },
  });
  t.strictSame(config.routes[0]?.rateLimit, { perCaller: { requests: 100, perSeconds: 1, burst: 200 } });
  const bare = parseConfig(
    edited([
      ["store", REMOVE],
      ["routes.0.rateLimit", { perCaller: { requests: "5" } }],
    ]),
  );
  t.equal(bare.store, undefined, "no store: every pod on its own");
  t.strictSame(
    bare.routes[0]?.rateLimit,
    { perCaller: { requests: 5, perSeconds: 1 } },
    "burst left to the code",
  );
  const keys = parseConfig(
    edited([["store.redis.encryptionKeys", [randomBytes(32).toString("base64url"), KEY]]]),
  );
  t.equal(keys.store?.redis.encryptionKeys.length, 2, "base64url keys too, and several for rotation");
  const unset = parseConfig(edited([["store.redis.encryptionKeys", [KEY, ""]]]));
  t.strictSame(
    unset.store?.redis.encryptionKeys,
    [KEY],
    "an empty entry (an unset variable with an empty default) is dropped",
  );
});

t.test("problems, with their exact messages", async (t) => {
  const keyWhy = "expected 32 bytes in base64 (openssl rand -base64 32)";
  check(t, [
    [
      "http URL",
      [["store.redis.url", "http://redis:6379"]],
      ["store.redis.url: expected a redis:// or rediss:// URL"],
    ],
    ["not a URL", [["store.redis.url", "redis"]], ["store.redis.url: expected a redis:// or rediss:// URL"]],
    [
      "no keys",
      [["store.redis.encryptionKeys", []]],
      ["store.redis.encryptionKeys: expected at least one key"],
    ],
    [
      "too many keys",
      [["store.redis.encryptionKeys", Array(9).fill(KEY)]],
      ["store.redis.encryptionKeys: expected at most 8 keys"],
    ],
    [
      "short key",
      [["store.redis.encryptionKeys", ["c2hvcnQ="]]],
      [`store.redis.encryptionKeys[0]: ${keyWhy}`],
    ],
    [
      "key of 33 bytes",
      [["store.redis.encryptionKeys", [randomBytes(33).toString("base64")]]],
      [`store.redis.encryptionKeys[0]: ${keyWhy}`],
    ],
    ["missing keys", [["store.redis.encryptionKeys", REMOVE]], ["store.redis.encryptionKeys: required"]],
    ["no topology", [["store.redis.url", REMOVE]], [`store.redis: ${ONE_OF}`]],
    ["url and sentinel", [["store.redis.sentinel", SENTINEL]], [`store.redis: ${ONE_OF}`]],
    ["url and cluster", [["store.redis.cluster", CLUSTER]], [`store.redis: ${ONE_OF}`]],
    [
      "all three",
      [
        ["store.redis.sentinel", SENTINEL],
        ["store.redis.cluster", CLUSTER],
      ],
      [`store.redis: ${ONE_OF}`],
    ],
    ["missing redis", [["store", {}]], ["store.redis: required"]],
    ["unknown key", [["store.redis.password", "x"]], ["store.redis.password: unknown key"]],
    [
      "prefix",
      [["store.redis.keyPrefix", "has space"]],
      ["store.redis.keyPrefix: expected 1 to 64 letters, digits or _ . : { } -"],
    ],
    [
      "timeout",
      [["store.redis.timeoutMs", 5]],
      ["store.redis.timeoutMs: expected a number from 10 to 10000"],
    ],
    [
      "lock wait",
      [["store.redis.lockWaitMs", 0]],
      ["store.redis.lockWaitMs: expected a number from 100 to 60000"],
    ],
    [
      "no requests",
      [["routes.0.rateLimit", { perCaller: {} }]],
      ["routes[0].rateLimit.perCaller.requests: required"],
    ],
    [
      "zero requests",
      [["routes.0.rateLimit.perCaller.requests", 0]],
      ["routes[0].rateLimit.perCaller.requests: expected a number from 1 to 1000000"],
    ],
    [
      "period",
      [["routes.0.rateLimit.perCaller.perSeconds", 0]],
      ["routes[0].rateLimit.perCaller.perSeconds: expected a number from 1 to 86400"],
    ],
    [
      "burst",
      [["routes.0.rateLimit.perCaller.burst", 1.5]],
      ["routes[0].rateLimit.perCaller.burst: expected a whole number"],
    ],
    ["no perCaller", [["routes.0.rateLimit", {}]], ["routes[0].rateLimit.perCaller: required"]],
  ]);
});

t.test("Sentinel and Cluster: defaults, credentials from the environment", async (t) => {
  const sentinel = parseConfig(
    edited([
      ["store.redis.url", REMOVE],
      ["store.redis.sentinel", SENTINEL],
    ]),
  );
  t.strictSame(sentinel.store?.redis.sentinel, { ...SENTINEL, tls: false, sentinelTls: false });
  t.equal(sentinel.store?.redis.url, undefined);
  const cluster = parseConfig(
    edited([
      ["store.redis.url", REMOVE],
      ["store.redis.cluster", { ...CLUSTER, tls: "true", password: "" }],
    ]),
  );
  t.strictSame(
    cluster.store?.redis.cluster,
    { ...CLUSTER, tls: true, password: "" },
    "an empty password is kept (none)",
  );

  const yaml = (where: string) => `
issuers: [{ id: local, issuer: "http://127.0.0.1:9229/p", jwksUri: "http://127.0.0.1:9229/jwks", clientIds: [c] }]
routes: [{ id: api, upstream: "http://127.0.0.1:3000" }]
store:
  redis:
    encryptionKeys: ["\${STORE_KEY}"]
${where}`;
  const env = {
    STORE_KEY: KEY,
    REDIS_USER: "cupbearer",
    REDIS_PASSWORD: "p@ss:word}",
    SENTINEL_PASSWORD: "s3cret",
    SENTINELS_TLS: "true",
  };
  const fromEnv = parseConfigText(
    yaml(`    sentinel:
      name: mymaster
      sentinels: ["127.0.0.1:26379"]
      username: "\${REDIS_USER}"
      password: "\${REDIS_PASSWORD}"
      sentinelPassword: "\${SENTINEL_PASSWORD}"
      sentinelUsername: "\${SENTINEL_USER:-}"
      sentinelTls: "\${SENTINELS_TLS}"`),
    env,
  );
  t.strictSame(fromEnv.store?.redis.sentinel, {
    name: "mymaster",
    sentinels: ["127.0.0.1:26379"],
    username: "cupbearer",
    password: "p@ss:word}",
    sentinelPassword: "s3cret",
    sentinelUsername: "",
    tls: false,
    sentinelTls: true,
  });
  const clusterFromEnv = parseConfigText(
    yaml(`    cluster:
      nodes: ["127.0.0.1:7000", "127.0.0.1:7001"]
      password: "\${REDIS_PASSWORD}"`),
    env,
  );
  t.strictSame(clusterFromEnv.store?.redis.cluster, {
    nodes: ["127.0.0.1:7000", "127.0.0.1:7001"],
    password: "p@ss:word}",
    tls: false,
  });
});

t.test("Sentinel and Cluster problems, with their exact messages", async (t) => {
  const inSentinel = (key: string, value: unknown): Edit[] => [
    ["store.redis.url", REMOVE],
    ["store.redis.sentinel", structuredClone(SENTINEL)],
    [`store.redis.sentinel.${key}`, value],
  ];
  const inCluster = (key: string, value: unknown): Edit[] => [
    ["store.redis.url", REMOVE],
    ["store.redis.cluster", structuredClone(CLUSTER)],
    [`store.redis.cluster.${key}`, value],
  ];
  check(t, [
    ["no name", inSentinel("name", REMOVE), ["store.redis.sentinel.name: required"]],
    [
      "bad name",
      inSentinel("name", "my master"),
      ["store.redis.sentinel.name: expected 1 to 128 letters, digits or _ . : -"],
    ],
    [
      "no sentinels",
      inSentinel("sentinels", []),
      ["store.redis.sentinel.sentinels: expected at least one Sentinel"],
    ],
    [
      "too many sentinels",
      inSentinel("sentinels", Array(17).fill("127.0.0.1:26379")),
      ["store.redis.sentinel.sentinels: expected at most 16 Sentinels"],
    ],
    [
      "sentinels not a list",
      inSentinel("sentinels", "127.0.0.1:26379"),
      ["store.redis.sentinel.sentinels: expected a list of host:port"],
    ],
    ["no port", inSentinel("sentinels", ["127.0.0.1"]), [`store.redis.sentinel.sentinels[0]: ${ADDRESS}`]],
    [
      "port 0",
      inSentinel("sentinels", ["127.0.0.1:1", "a:0"]),
      [`store.redis.sentinel.sentinels[1]: ${ADDRESS}`],
    ],
    ["port too big", inSentinel("sentinels", ["a:65536"]), [`store.redis.sentinel.sentinels[0]: ${ADDRESS}`]],
    [
      "a URL",
      inSentinel("sentinels", ["redis://a:26379"]),
      [`store.redis.sentinel.sentinels[0]: ${ADDRESS}`],
    ],
    [
      "bare IPv6",
      inSentinel("sentinels", ["fd00::1:26379"]),
      [`store.redis.sentinel.sentinels[0]: ${ADDRESS}`],
    ],
    [
      "not a string",
      inSentinel("sentinels", [26379]),
      ["store.redis.sentinel.sentinels[0]: expected host:port"],
    ],
    [
      "password not a string",
      inSentinel("password", 123),
      ["store.redis.sentinel.password: expected a password"],
    ],
    ["tls", inSentinel("tls", "yes"), ["store.redis.sentinel.tls: expected true or false"]],
    ["unknown sentinel key", inSentinel("db", 1), ["store.redis.sentinel.db: unknown key"]],
    ["no nodes", inCluster("nodes", []), ["store.redis.cluster.nodes: expected at least one node"]],
    [
      "too many nodes",
      inCluster("nodes", Array(65).fill("127.0.0.1:6379")),
      ["store.redis.cluster.nodes: expected at most 64 nodes"],
    ],
    [
      "bad node",
      inCluster("nodes", ["redis-0:6379", "redis-1"]),
      [`store.redis.cluster.nodes[1]: ${ADDRESS}`],
    ],
    ["long password", inCluster("password", "x".repeat(513)), ["store.redis.cluster.password: too long"]],
    ["unknown cluster key", inCluster("name", "x"), ["store.redis.cluster.name: unknown key"]],
  ]);
});
