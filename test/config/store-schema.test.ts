/** `store.redis` and `routes[].rateLimit`: defaults, ranges and exact messages. */
import { randomBytes } from "node:crypto";
import t from "tap";
import { parseConfig } from "../../src/config/schema.js";
import { configEdits, REMOVE } from "../support/config-edits.js";

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
    ["missing url", [["store.redis.url", REMOVE]], ["store.redis.url: required"]],
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
