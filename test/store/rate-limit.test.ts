import t from "tap";
import type { Identity } from "../../src/core/identity.js";
import { Refusal } from "../../src/errors.js";
import { CallerRateLimiter, callerKey, LocalRate, type RateStore } from "../../src/store/rate-limit.js";

const user = (sub: string, iss = "https://issuer.example.com"): Identity => ({
  issuerId: "test",
  subject: sub,
  claims: { iss, sub },
});

/** The outcome of one admit: "ok", or the Retry-After of its refusal. */
async function outcome(run: () => void | Promise<void>): Promise<string | number> {
  try {
    await run();
    return "ok";
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    t.equal(err.reason, "rate_limited");
    t.equal(err.status, 429);
    return err.retryAfterSeconds as number;
  }
}

t.test("GCRA per pod: a burst, then one request per interval", async (t) => {
  let now = 0;
  const rate = new LocalRate(1000, 3, 10, () => now);
  t.same(
    [1, 2, 3, 4].map(() => rate.take("a").allowed),
    [true, true, true, false],
    "a burst of 3",
  );
  t.same(rate.take("a"), { allowed: false, retryAfterMs: 1000 });
  now = 999;
  t.equal(rate.take("a").allowed, false, "not before the interval");
  now = 1000;
  t.equal(rate.take("a").allowed, true, "one more after one interval");
  t.equal(rate.take("b").allowed, true, "another caller has its own budget");
  now = 100_000;
  t.same(
    [1, 2, 3, 4].map(() => rate.take("a").allowed),
    [true, true, true, false],
    "a quiet time restores the whole burst, no more",
  );
});

t.test("a burst of one lets the first request through whatever the clock reads", async (t) => {
  // (97851.26733181438 + 60000) - 97851.26733181438 rounds to just above 60000: a check made on
  // that sum refused this caller's first request (and about 1 in 80 clock readings like it).
  const clocks = [97851.26733181438, 122167.9624389127];
  for (let i = 0; i < 2000; i++) clocks.push(Math.random() * 1e7);
  const refused = clocks.filter((now) => !new LocalRate(60_000, 1, 10, () => now).take("a").allowed);
  t.same(refused, [], "no first request refused");
  const now = clocks[0] as number;
  const rate = new LocalRate(60_000, 1, 10, () => now);
  rate.take("a");
  const second = rate.take("a");
  t.equal(second.allowed, false, "the second is refused");
  t.ok(Math.abs(second.retryAfterMs - 60_000) <= 1, "it waits the interval");
});

t.test("the per-pod memory is bounded: the least recent callers are forgotten", async (t) => {
  const rate = new LocalRate(1000, 1, 2, () => 0);
  t.ok(rate.take("a").allowed);
  t.ok(rate.take("b").allowed);
  t.ok(rate.take("c").allowed);
  t.ok(rate.take("a").allowed, "a was forgotten (bounded), so it starts afresh");
});

t.test("caller keys: issuer and subject, else the client's address", async (t) => {
  t.equal(callerKey(user("alice"), "10.0.0.1"), "u https://issuer.example.com alice");
  t.not(
    callerKey(user("alice", "https://other.example.com"), undefined),
    callerKey(user("alice"), undefined),
  );
  t.equal(callerKey(undefined, "10.0.0.1"), "a 10.0.0.1");
  t.equal(callerKey(undefined, undefined), "a unknown");
});

t.test("without a store the check is synchronous and per pod", async (t) => {
  let now = 0;
  let limited = 0;
  const limiter = new CallerRateLimiter({
    route: "r",
    rule: { requests: 2, perSeconds: 10, burst: 2 },
    now: () => now,
    onLimited: () => limited++,
  });
  t.equal(limiter.admit(user("a"), undefined), undefined, "allowed at once, no promise");
  t.equal(await outcome(() => limiter.admit(user("a"), undefined)), "ok");
  t.equal(
    await outcome(() => limiter.admit(user("a"), undefined)),
    5,
    "Retry-After: the 5 s until the next request fits",
  );
  now = 4_001;
  t.equal(await outcome(() => limiter.admit(user("a"), undefined)), 1, "rounded up, never 0");
  t.equal(limited, 2);
  t.equal(await outcome(() => limiter.admit(undefined, "10.0.0.9")), "ok", "guests by address");
});

t.test("with a store: its answer, or the per-pod limit when it has none", async (t) => {
  const calls: string[] = [];
  let answer: { allowed: boolean; retryAfterMs: number } | undefined = {
    allowed: false,
    retryAfterMs: 2_500,
  };
  const store: RateStore = {
    rateLimit: async (route, caller, intervalMs, burst) => {
      calls.push(`${route}|${caller}|${intervalMs}|${burst}`);
      return answer;
    },
  };
  const limiter = new CallerRateLimiter({
    route: "r",
    rule: { requests: 4, perSeconds: 1, burst: 1 },
    store,
    now: () => 0,
  });
  t.equal(
    await outcome(() => limiter.admit(user("a"), undefined)),
    3,
    "the store's refusal, its wait rounded up",
  );
  answer = { allowed: true, retryAfterMs: 0 };
  t.equal(await outcome(() => limiter.admit(user("a"), undefined)), "ok");
  t.same(calls, ["r|u https://issuer.example.com a|250|1", "r|u https://issuer.example.com a|250|1"]);
  answer = undefined;
  t.equal(await outcome(() => limiter.admit(user("a"), undefined)), "ok", "store down: the per-pod budget");
  t.equal(await outcome(() => limiter.admit(user("a"), undefined)), 1, "which also runs out");
});

t.test("a rule must make sense", async (t) => {
  for (const rule of [
    { requests: 0, perSeconds: 1, burst: 1 },
    { requests: 1, perSeconds: 0, burst: 1 },
    { requests: 1, perSeconds: 1, burst: 0 },
  ]) {
    t.throws(() => new CallerRateLimiter({ route: "r", rule }), RangeError, JSON.stringify(rule));
  }
});
