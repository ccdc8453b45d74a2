// Microbenchmark of signed identity assertions (src/assertions/signer.ts): what a route with
// `auth.assertion` adds to a request when the assertion is signed (a new caller, or one whose
// cached assertion has passed half its life) and when the cached one is sent again (every other
// request). Build, then run:
//   npm run build && node dist/bench/assertions.js
// Environment: ASSERT_BENCH_MS milliseconds per round and case (default 300),
// ASSERT_BENCH_ROUNDS rounds per case, the median printed (default 5).
// Figures are CPU µs per operation (process.cpuUsage), the median of the rounds.
import { generateKeyPairSync } from "node:crypto";
import { AssertionSigner } from "../src/assertions/signer.js";
import type { Identity } from "../src/core/identity.js";

const ROUND_MS = Number(process.env.ASSERT_BENCH_MS ?? 300);
const ROUNDS = Number(process.env.ASSERT_BENCH_ROUNDS ?? 5);

const identity: Identity = {
  issuerId: "pool",
  subject: "3f1c9a2e-0000-4000-8000-000000000001",
  claims: {
    sub: "3f1c9a2e-0000-4000-8000-000000000001",
    iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
    token_use: "access",
    client_id: "1example23456789",
    username: "alice",
    "cognito:groups": ["admin", "billing"],
    exp: Math.floor(Date.now() / 1000) + 3600,
  },
};
const token = `eyJ.${"x".repeat(900)}.sig`;
const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const signer = (cacheMaxEntries: number) =>
  new AssertionSigner({
    issuer: "https://cupbearer.example",
    keys: [key],
    lifetimeSeconds: 60,
    cacheMaxEntries,
  });

async function measure(name: string, op: (i: number) => Promise<unknown>): Promise<void> {
  const results: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const cpu = process.cpuUsage();
    const until = performance.now() + ROUND_MS;
    while (performance.now() < until) {
      for (let k = 0; k < 50; k++) await op(n++);
    }
    const used = process.cpuUsage(cpu);
    results.push((used.user + used.system) / n);
  }
  results.sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} ${(results[Math.floor(ROUNDS / 2)] as number).toFixed(2).padStart(8)} µs`);
}

const uncached = signer(0);
const cached = signer(10_000);
await measure("assertion, signed (cache off or missed)", () => uncached.assertion("app", identity, token));
await measure("assertion, cached (same route and token)", () => cached.assertion("app", identity, token));
await measure("x-amzn-oidc-data, signed", () => uncached.albData(identity, token));
await measure("assertion, cached, 1000 callers round-robin", (i) =>
  cached.assertion("app", identity, `${token}${i % 1000}`),
);
