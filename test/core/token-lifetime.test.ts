import t from "tap";
import { cacheableUntil, checkTokenTimes } from "../../src/core/token-lifetime.js";
import { Refusal } from "../../src/errors.js";

const rules = { clockSkewSeconds: 30, maxTokenLifetimeSeconds: 3600 };
const now = 1_800_000_000;

function outcome(payload: { exp: number; iat?: unknown }): string {
  try {
    checkTokenTimes(payload, now, rules);
    return "ok";
  } catch (err) {
    if (err instanceof Refusal) return err.reason;
    throw err;
  }
}

t.test("iat in the future beyond the skew, and lifetimes beyond the maximum, are refused", async (t) => {
  const cases: Array<[name: string, payload: { exp: number; iat?: unknown }, expected: string]> = [
    ["an hour's token, just issued", { iat: now, exp: now + 3600 }, "ok"],
    ["iat within the skew", { iat: now + 30, exp: now + 600 }, "ok"],
    ["iat beyond the skew", { iat: now + 31, exp: now + 600 }, "not_yet_valid"],
    ["lifetime one second too long", { iat: now - 10, exp: now + 3591 }, "lifetime"],
    ["an old long-lived token", { iat: now - 86_400 * 30, exp: now + 60 }, "lifetime"],
    ["no iat: exp - now within", { exp: now + 3600 }, "ok"],
    ["no iat: exp - now beyond", { exp: now + 3601 }, "lifetime"],
    ["iat not a number", { iat: "yesterday", exp: now + 60 }, "malformed"],
  ];
  for (const [name, payload, expected] of cases) t.equal(outcome(payload), expected, name);
});

t.test("a cache entry lives until exp plus skew, never longer than the maximum lifetime", async (t) => {
  const nowMs = now * 1000;
  t.equal(cacheableUntil(now + 60, nowMs, rules), (now + 90) * 1000, "short token: its own end");
  t.equal(cacheableUntil(now + 10 * 3600, nowMs, rules), nowMs + 3600 * 1000, "capped at the maximum");
});
