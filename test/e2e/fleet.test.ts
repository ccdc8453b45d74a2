/**
 * A fleet of four cupbearers (in-process instances over real HTTP) sharing a real redis-server,
 * behind a round-robin client, with a recording identity-pool fake driven by the real Cognito
 * Identity client: one GetId and one exchange per user for the whole fleet, a fleet-wide single
 * flight and refresh, an outage that fails no request, and per-caller limits shared by the fleet.
 */
import { randomBytes } from "node:crypto";
import t, { type Test } from "tap";
import { type IdentityPoolFake, startIdentityPoolFake } from "../../bench/identity-pool-fake.js";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { type RedisServer, redisFor } from "../support/redis.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";
import { waitFor } from "../support/wait.js";

const POOL_ID = "us-east-1:00000000-0000-4000-8000-00000000f1ee";
const PODS = 4;

interface Fleet {
  pods: RunningApp[];
  redis: RedisServer;
  fake: IdentityPoolFake;
  issuer: TestIssuer;
  up: RecordingUpstream;
  /** The next pod, round robin. */
  next(): RunningApp;
}

async function startFleet(t: Test): Promise<Fleet | undefined> {
  const redis = await redisFor(t);
  if (redis === undefined) return undefined;
  const [issuer, up, fake] = await Promise.all([startIssuer(), startUpstream(), startIdentityPoolFake()]);
  up.handler = (_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  const yaml = `
issuers:
  - { id: test, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }
identityPools:
  # A bound far above the fake's answer time: a CI machine running four test files at once has
  # starved this process for over 5 s (the default), and a late answer must not read as an outage.
  - { id: main, identityPoolId: "${POOL_ID}", region: us-east-1, endpoint: "${fake.endpoint}", timeoutMs: 30000 }
routes:
  - id: files
    match: { pathPrefix: /files }
    stripPrefix: true
    upstream:
      url: "${up.url}/bucket"
      aws: { service: s3, region: us-east-1, identityPool: main }
    auth: { tokenUse: id }
  - id: limited
    match: { pathPrefix: /limited }
    upstream: "${up.url}"
    rateLimit: { perCaller: { requests: 10, perSeconds: 60 } }
  - id: open
    match: { pathPrefix: /open }
    upstream: "${up.url}"
    auth: { mode: public }
    rateLimit: { perCaller: { requests: 1, perSeconds: 60, burst: 3 } }
store:
  redis:
    url: "${redis.url}"
    keyPrefix: "fleet:"
    encryptionKeys: ["\${STORE_KEY}"]
    timeoutMs: 1000
`;
  const env = { STORE_KEY: randomBytes(32).toString("base64") };
  const pods = await Promise.all(Array.from({ length: PODS }, () => startApp(yaml, env)));
  await Promise.all(pods.map((p) => waitReady(p.adminUrl)));
  t.teardown(async () => {
    await Promise.all(pods.map((p) => p.stop()));
    await Promise.all([issuer.close(), up.close(), fake.close()]);
  });
  let i = 0;
  return { pods, redis, fake, issuer, up, next: () => pods[i++ % PODS] as RunningApp };
}

const idToken = (f: Fleet, sub: string) => f.issuer.token({ sub, token_use: "id", aud: "test-client" });

async function get(pod: RunningApp, path: string, token?: string): Promise<Response> {
  const res = await fetch(
    `${pod.url}${path}`,
    token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
  );
  await res.arrayBuffer();
  return res;
}

/** Sum of one metric's samples over the fleet, optionally only those with a label value. */
async function fleetMetric(f: Fleet, name: string, label = ""): Promise<number> {
  let sum = 0;
  for (const pod of f.pods) {
    const text = await (await fetch(`${pod.adminUrl}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name}{`) && line.includes(label)) sum += Number(line.split(" ").pop());
    }
  }
  return sum;
}

t.test("a fleet of four", async (t) => {
  const f = await startFleet(t);
  if (!f) return;
  const statuses = new Map<number, number>();
  const count = (res: Response) => statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);

  t.test("200 users x 20 requests over four pods: 200 GetId and 200 exchanges, not 800", async (t) => {
    f.fake.reset();
    statuses.clear();
    const tokens = Array.from({ length: 200 }, (_, u) => idToken(f, `user-${u}`));
    for (let round = 0; round < 20; round++) {
      // Every user at once, each user's requests one after another; the pods take turns.
      await Promise.all(
        tokens.map(async (token, u) =>
          count(await get(f.pods[(u + round) % PODS] as RunningApp, `/files/u${u}/r${round}`, token)),
        ),
      );
    }
    const refused = f.pods.flatMap((p) => p.logs.filter((l) => typeof l.reason === "string"));
    t.same(Object.fromEntries(statuses), { 200: 4000 }, "every request answered 200", {
      refused: refused.slice(0, 5).map((l) => `${l.status} ${l.reason}: ${l.detail}`),
    });
    t.same(f.fake.counts(), { GetId: 200, GetCredentialsForIdentity: 200 });
    t.ok(
      (await fleetMetric(f, "cupbearer_store_operations_total", 'op="get_credentials",result="hit"')) >= 200,
    );

    const stored = await f.redis.dump();
    const ids = tokens.length;
    t.ok(stored.size >= 2 * ids, `${stored.size} records stored`);
    const clear = [...f.fake.secrets, ...tokens, "user-1"];
    const leaks = [...stored].filter(([k, v]) => clear.some((s) => v.includes(s) || k.includes(s)));
    t.same(leaks, [], "no secret key, session token, ID token or user name in clear in the store");
  });

  t.test("50 concurrent first requests for one user over four pods: 1 GetId, 1 exchange", async (t) => {
    f.fake.reset();
    f.fake.delayMs = 100;
    t.teardown(() => {
      f.fake.delayMs = 0;
    });
    const token = idToken(f, "crowd");
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => get(f.next(), `/files/c${i}`, token)),
    );
    t.same(
      answers.map((r) => r.status),
      Array(50).fill(200),
    );
    t.same(f.fake.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
  });

  t.test("credentials are refreshed once per identity, fleet-wide", async (t) => {
    f.fake.reset();
    // Fresh for about 3 s: then every pod sees them due for a refresh (60 s margin).
    f.fake.lifetimeSeconds = 63;
    t.teardown(() => {
      f.fake.lifetimeSeconds = 3600;
    });
    const token = idToken(f, "refresher");
    for (let i = 0; i < PODS; i++) t.equal((await get(f.next(), "/files/x", token)).status, 200);
    t.same(f.fake.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
    const due = Date.now() + 3_500;
    await waitFor("the credentials to be due for a refresh", () => (Date.now() >= due ? true : undefined));
    f.fake.lifetimeSeconds = 3600;
    f.fake.delayMs = 50;
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(f.next(), "/files/y", token)));
    f.fake.delayMs = 0;
    t.same(
      answers.map((r) => r.status),
      Array(20).fill(200),
    );
    t.same(f.fake.counts(), { GetId: 1, GetCredentialsForIdentity: 2 }, "one refresh for the fleet");
  });

  t.test(
    "per-caller limits: one budget across four pods, separate callers, 429 with Retry-After",
    async (t) => {
      const alice = idToken(f, "limited-alice");
      const bob = idToken(f, "limited-bob");
      const run = async (token: string | undefined, path: string, n: number) => {
        const out: Response[] = [];
        for (let i = 0; i < n; i++) out.push(await get(f.next(), path, token));
        return out;
      };
      const a = await run(alice, "/limited/a", 20);
      const passed = a.filter((r) => r.status === 200).length;
      t.ok(
        passed >= 10 && passed <= 11,
        `${passed} of 20 passed: the budget of 10 is the fleet's, not each pod's`,
      );
      t.equal(a.length - passed, a.filter((r) => r.status === 429).length, "the rest were refused with 429");
      const refused = a.find((r) => r.status === 429) as Response;
      const retryAfter = Number(refused.headers.get("retry-after"));
      t.ok(retryAfter >= 1 && retryAfter <= 6, `Retry-After: ${retryAfter} s (one request every 6 s)`);
      const b = await run(bob, "/limited/b", 10);
      t.same(
        b.map((r) => r.status),
        Array(10).fill(200),
        "another caller has a budget of its own",
      );
      const guests = await run(undefined, "/open/x", 5);
      t.same(
        guests.map((r) => r.status),
        [200, 200, 200, 429, 429],
        "callers without a token share their address's budget (burst 3)",
      );
      t.equal(await fleetMetric(f, "cupbearer_rate_limited_total", 'route="limited"'), a.length - passed);
      t.equal(await fleetMetric(f, "cupbearer_rate_limited_total", 'route="open"'), 2);
    },
  );

  t.test("Redis stopped mid-run and started again: no request fails", async (t) => {
    const users = (prefix: string) => Array.from({ length: 10 }, (_, u) => idToken(f, `${prefix}-${u}`));
    const drive = async (tokens: string[], rounds: number) => {
      const out: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const answers = await Promise.all(
          tokens.map((token, u) => get(f.next(), `/files/${u}/${round}`, token)),
        );
        out.push(...answers.map((r) => r.status));
      }
      return out;
    };
    const during = users("outage");
    f.fake.reset();
    await drive(during.slice(0, 5), 2);
    const logsBefore = f.pods.map((p) => p.logs.length);
    await f.redis.kill();
    const statuses = await drive(during, 8);
    t.same(statuses, Array(80).fill(200), "every request during the outage answered 200");
    const calls = f.fake.counts();
    t.ok((calls.GetId ?? 0) > 10, `${calls.GetId} GetId for 10 users: per pod while the store is down`);
    const limited = [];
    const carol = idToken(f, "limited-carol");
    for (let i = 0; i < 16; i++) limited.push((await get(f.next(), "/limited/c", carol)).status);
    t.same(limited, Array(16).fill(200), "rate limits fall back to per-pod budgets, never to refusing");
    for (const pod of f.pods) {
      const res = await fetch(`${pod.adminUrl}/readyz`);
      t.equal(res.status, 200, "/readyz does not depend on the store");
    }

    await f.redis.start();
    for (const [i, pod] of f.pods.entries()) {
      const since = () => pod.logs.slice(logsBefore[i]);
      await waitFor(
        "every pod to see the store again",
        () =>
          pod.logs.some((l) => String(l.msg).startsWith("shared store answering again")) ? true : undefined,
        { timeoutMs: 20_000 },
      );
      const changes = since()
        .map((l) => String(l.msg))
        .filter((m) => m.startsWith("shared store"));
      t.same(
        changes.map((m) => m.split(":")[0]),
        ["shared store not answering", "shared store answering again"],
        "the outage and the return are logged once each per pod",
      );
      t.notOk(pod.logText().includes(f.redis.url), "the store URL is never logged");
    }
    f.fake.reset();
    t.same(await drive(users("after"), 8), Array(80).fill(200));
    t.same(
      f.fake.counts(),
      { GetId: 10, GetCredentialsForIdentity: 10 },
      "once it is back, one exchange per user",
    );
    t.ok(
      (await fleetMetric(f, "cupbearer_store_operations_total", 'result="error"')) > 0,
      "failures counted",
    );
  });
});
