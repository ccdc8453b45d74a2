/**
 * CredentialsProvider through the real @aws-sdk/client-cognito-identity client: against moto
 * (behind a recording proxy that counts what reaches it) for the flow, caching and single
 * flight; against a protocol-level fake for expiry with an injected clock and for the errors
 * moto cannot produce.
 */
import t from "tap";
import { freePort } from "../../demo/cognito-emulator.js";
import {
  CredentialsError,
  type CredentialsLookup,
  CredentialsProvider,
  type CredentialsProviderProps,
  type CredentialsRequest,
  type CredentialsResult,
  cognitoProviderName,
  loginProviderName,
} from "../../src/aws/credentials.js";
import {
  createMotoIdentityPool,
  expectError,
  expectOk,
  type FakeAnswer,
  fakeService,
  fakeWithClock,
  identityClient,
  MOTO_REGION,
  FAKE_POOL as POOL,
  providerFor,
  recorder,
  startRecordingProxy,
} from "../support/moto-aws.js";
import { serve } from "../support/server.js";
import { sharedMoto } from "../support/shared.js";

const USER_POOL = "us-east-1_0123456789abcdef0123456789abcdef";
const ISSUER = `https://cognito-idp.${MOTO_REGION}.amazonaws.com/${USER_POOL}`;
const PROVIDER = cognitoProviderName(MOTO_REGION, USER_POOL);
const ROLE = "arn:aws:iam::123456789012:role/reader";

t.test("loginProviderName: the Logins key of an issuer", async (t) => {
  const cases: [issuer: string, expected: string][] = [
    [ISSUER, PROVIDER],
    [
      "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
      "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
    ],
    ["https://login.example.com", "login.example.com"],
    ["https://login.example.com/", "login.example.com"],
    ["https://Login.Example.com/realms/main/", "login.example.com/realms/main"],
    ["http://127.0.0.1:4000/local_abc", "127.0.0.1:4000/local_abc"],
  ];
  for (const [issuer, expected] of cases) t.equal(loginProviderName(issuer), expected, issuer);
  t.equal(
    cognitoProviderName("eu-west-1", "eu-west-1_AbCdEf123"),
    "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
  );
  t.throws(() => loginProviderName("not a url"), TypeError);
});

t.test("constructor refuses bad settings", async (t) => {
  const client = identityClient("http://127.0.0.1:9");
  t.teardown(() => client.destroy());
  const base: CredentialsProviderProps = { identityPoolId: POOL, region: MOTO_REGION, client, now: Date.now };
  t.throws(() => new CredentialsProvider({ ...base, identityPoolId: "" }), RangeError);
  t.throws(() => new CredentialsProvider({ ...base, identityPoolId: "eu-west-1:x" }), {
    message: 'identityPoolId must start with "us-east-1:" (its region)',
  });
  t.doesNotThrow(() => new CredentialsProvider(base));
  t.throws(() => new CredentialsProvider({ ...base, refreshMarginSeconds: -1 }), RangeError);
  t.throws(() => new CredentialsProvider({ ...base, timeoutMs: Number.NaN }), RangeError);
});

t.test("against moto, through a recording proxy", async (t) => {
  const moto = await sharedMoto(t);
  if (!moto) return;
  const proxy = await startRecordingProxy(moto.endpoint);
  t.teardown(() => proxy.close());
  const identityPoolId = await createMotoIdentityPool(proxy.endpoint, PROVIDER);
  const client = identityClient(proxy.endpoint);
  t.teardown(() => client.destroy());
  const make = (extra: Partial<CredentialsProviderProps> = {}) => {
    const metrics = recorder();
    const provider = new CredentialsProvider({
      identityPoolId,
      region: MOTO_REGION,
      client,
      now: Date.now,
      metrics,
      ...extra,
    });
    return { provider, metrics };
  };

  t.test("one exchange, then the cache; the newest token is the login", async (t) => {
    proxy.reset();
    const { provider, metrics } = make();
    const c = expectOk(t, await provider.get({ issuer: ISSUER, sub: "alice", idToken: "token-1" }));
    t.equal(c.accessKeyId, "TESTACCESSKEY12345");
    t.equal(c.secretAccessKey, "ABCSECRETKEY");
    t.equal(c.sessionToken, "ABC12345");
    t.match(c.identityId, /^us-east-1:/);
    // TZ=UTC makes moto's naive expiry right: 90 s from now (a few seconds of slack).
    const left = (c.expiresAt - Date.now()) / 1000;
    t.ok(left > 80 && left <= 91, `expires in ${left} s`);
    t.same(proxy.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
    t.same(proxy.requests[0]?.body, { IdentityPoolId: identityPoolId, Logins: { [PROVIDER]: "token-1" } });
    t.same(proxy.requests[1]?.body, { IdentityId: c.identityId, Logins: { [PROVIDER]: "token-1" } });

    // Another ID token of the same user: a cache hit, nothing reaches moto.
    const again = expectOk(t, await provider.get({ issuer: ISSUER, sub: "alice", idToken: "token-2" }));
    t.equal(again, c);
    t.same(proxy.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
    t.same(metrics.events, ["miss:credentials", "miss:identity", "exchange:ok", "hit:credentials"]);

    // Another role of the same user: new credentials, same identity, newest token.
    proxy.reset();
    const role = expectOk(
      t,
      await provider.get({ issuer: ISSUER, sub: "alice", idToken: "token-3", roleArn: ROLE }),
    );
    t.equal(role.identityId, c.identityId);
    t.same(proxy.counts(), { GetCredentialsForIdentity: 1 });
    t.same(proxy.requests[0]?.body, {
      IdentityId: c.identityId,
      Logins: { [PROVIDER]: "token-3" },
      CustomRoleArn: ROLE,
    });
    expectOk(t, await provider.get({ issuer: ISSUER, sub: "alice", idToken: "token-4", roleArn: ROLE }));
    t.same(proxy.counts(), { GetCredentialsForIdentity: 1 });

    // Another user (or the same sub at another issuer) is another identity.
    proxy.reset();
    const bob = expectOk(t, await provider.get({ issuer: ISSUER, sub: "bob", idToken: "token-b" }));
    t.not(bob.identityId, c.identityId);
    const other = "https://login.example.com/realms/main";
    expectOk(t, await provider.get({ issuer: other, sub: "alice", idToken: "token-o" }));
    t.same(proxy.counts(), { GetId: 2, GetCredentialsForIdentity: 2 });
    t.same(proxy.requests[2]?.body, {
      IdentityPoolId: identityPoolId,
      Logins: { "login.example.com/realms/main": "token-o" },
    });
  });

  t.test(
    "single flight: 25 concurrent first requests, one GetId, one GetCredentialsForIdentity",
    async (t) => {
      proxy.reset();
      const { provider, metrics } = make();
      const results = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          provider.get({ issuer: ISSUER, sub: "carol", idToken: `token-${i}` }),
        ),
      );
      t.same(proxy.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
      const ids = new Set(results.map((r) => expectOk(t, r).identityId));
      t.equal(ids.size, 1, "every caller got the same identity");
      // The first caller's token started the exchange.
      t.same(proxy.requests[0]?.body, { IdentityPoolId: identityPoolId, Logins: { [PROVIDER]: "token-0" } });
      t.equal(metrics.events.filter((e) => e.startsWith("exchange:")).length, 1);

      // Two roles at once share the identity lookup: one GetId (cached now), two credentials.
      proxy.reset();
      await Promise.all([
        provider.get({ issuer: ISSUER, sub: "carol", idToken: "x", roleArn: ROLE }),
        provider.get({ issuer: ISSUER, sub: "carol", idToken: "y", roleArn: ROLE }),
        provider.get({ issuer: ISSUER, sub: "carol", idToken: "z", roleArn: `${ROLE}2` }),
      ]);
      t.same(proxy.counts(), { GetCredentialsForIdentity: 2 });
    },
  );

  t.test("caches are bounded", async (t) => {
    proxy.reset();
    const { provider } = make({ maxIdentities: 1, maxCredentials: 1 });
    for (const sub of ["u1", "u2", "u1"]) {
      expectOk(t, await provider.get({ issuer: ISSUER, sub, idToken: `t-${sub}` }));
    }
    t.same(proxy.counts(), { GetId: 3, GetCredentialsForIdentity: 3 }, "u1 was evicted by u2");
    provider.clear();
    expectOk(t, await provider.get({ issuer: ISSUER, sub: "u1", idToken: "t" }));
    t.same(proxy.counts(), { GetId: 4, GetCredentialsForIdentity: 4 }, "clear() forgets everything");
  });

  t.test("moto's 90 s credentials: kept until 60 s are left (injected clock)", async (t) => {
    proxy.reset();
    let clock = Date.now();
    const { provider } = make({ now: () => clock });
    const first = expectOk(t, await provider.get({ issuer: ISSUER, sub: "dave", idToken: "t" }));
    clock = first.expiresAt - 61_000;
    t.equal(expectOk(t, await provider.get({ issuer: ISSUER, sub: "dave", idToken: "t" })), first);
    t.same(proxy.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
    clock = first.expiresAt - 59_000;
    expectOk(t, await provider.get({ issuer: ISSUER, sub: "dave", idToken: "t" }));
    t.same(proxy.counts(), { GetId: 1, GetCredentialsForIdentity: 2 }, "refreshed; identity id reused");
  });
});

t.test("refresh ahead of Expiration, with an injected clock", async (t) => {
  let clock = Date.UTC(2030, 0, 1);
  const { fake, client } = await fakeWithClock(t, () => clock, 3_600_000);
  const req = { issuer: ISSUER, sub: "erin", idToken: "t" };

  const provider = providerFor(client, { now: () => clock });
  const first = expectOk(t, await provider.get(req));
  t.equal(first.accessKeyId, "AKID1");
  t.equal(first.expiresAt, clock + 3_600_000);

  clock += 3_600_000 - 60_000; // exactly the margin left: still served
  t.equal(expectOk(t, await provider.get(req)).accessKeyId, "AKID1");
  clock += 1; // a millisecond under the margin: never handed out
  const second = expectOk(t, await provider.get(req));
  t.equal(second.accessKeyId, "AKID2");
  t.ok(second.expiresAt - clock >= 60_000);
  t.same(fake.counts(), { GetId: 1, GetCredentialsForIdentity: 2 });

  // A configured margin of 5 minutes.
  fake.reset();
  const early = providerFor(client, { now: () => clock, refreshMarginSeconds: 300 });
  const a = expectOk(t, await early.get(req));
  clock = a.expiresAt - 300_001;
  t.equal(expectOk(t, await early.get(req)), a);
  clock += 2;
  t.not(expectOk(t, await early.get(req)).accessKeyId, a.accessKeyId);
  t.same(fake.counts(), { GetId: 1, GetCredentialsForIdentity: 2 });
});

/** The result of a lookup that must have been answered at once (a cache hit). */
function answeredAtOnce(lookup: CredentialsLookup): CredentialsResult {
  if (lookup instanceof Promise) throw new Error("expected the result itself, got a promise");
  return lookup;
}

t.test("a hit is the result itself, a miss the promise of the exchange", async (t) => {
  let clock = Date.UTC(2030, 0, 1);
  const { fake, client } = await fakeWithClock(t, () => clock, 3_600_000);
  const metrics = recorder();
  const provider = providerFor(client, { now: () => clock, metrics });
  const req = { issuer: ISSUER, sub: "pat", idToken: "t", roleArn: ROLE, client: "app" };

  // Concurrent misses share one exchange: the very same promise.
  const miss = provider.get(req);
  t.ok(miss instanceof Promise, "a miss is a promise");
  t.equal(provider.get(req), miss, "a second miss joins the exchange in flight");
  const first = expectOk(t, await miss);
  // The exchange starts at once (identity miss), before the second caller joins it.
  t.same(metrics.events, ["miss:credentials", "miss:identity", "miss:credentials", "exchange:ok"]);

  metrics.events.length = 0;
  const hit = answeredAtOnce(provider.get(req));
  t.equal(expectOk(t, hit), first, "the cached credentials");
  t.equal(
    answeredAtOnce(provider.get({ ...req, idToken: "another" })),
    hit,
    "the same result, nothing allocated",
  );
  t.same(metrics.events, ["hit:credentials", "hit:credentials"], "each hit reported once");

  // Exactly the margin left: still a hit. A millisecond less: a miss, and a new exchange.
  clock = first.expiresAt - 60_000;
  t.equal(expectOk(t, answeredAtOnce(provider.get(req))), first);
  clock += 1;
  const refresh = provider.get(req);
  t.ok(refresh instanceof Promise, "credentials within the margin are a miss");
  t.equal(expectOk(t, await refresh).accessKeyId, "AKID2");
  t.equal(expectOk(t, answeredAtOnce(provider.get(req))).accessKeyId, "AKID2", "then a hit again");
  t.same(fake.counts(), { GetId: 1, GetCredentialsForIdentity: 2 });
  t.same(metrics.events.slice(2), [
    "hit:credentials",
    "miss:credentials",
    "hit:identity",
    "exchange:ok",
    "hit:credentials",
  ]);

  // Guests too.
  const guestMiss = provider.getGuest();
  t.ok(guestMiss instanceof Promise);
  const guest = expectOk(t, await guestMiss);
  t.equal(expectOk(t, answeredAtOnce(provider.getGuest())), guest);
  t.not(guest, expectOk(t, answeredAtOnce(provider.get(req))), "a guest never gets a user's credentials");
});

t.test("cache keys: parts holding separators, lengths or nothing never collide", async (t) => {
  // A new identity for every GetId and new credentials for every GetCredentialsForIdentity, so
  // a request that wrongly shared another's cache entry would get that one's credentials.
  let ids = 0;
  let keys = 0;
  const { fake, client } = await fakeService(t, (operation, body): FakeAnswer => {
    if (operation === "GetId") return { status: 200, body: { IdentityId: `us-east-1:id-${++ids}` } };
    return {
      status: 200,
      body: {
        IdentityId: body.IdentityId,
        Credentials: {
          AccessKeyId: `AKID${++keys}`,
          SecretKey: "S",
          SessionToken: "T",
          Expiration: Date.now() / 1000 + 3600,
        },
      },
    };
  });
  const provider = providerFor(client);
  const issuer = "https://login.example.com/a";
  // Pairs that naive joins (with "|", by plain concatenation, of length-prefixed parts read
  // wrongly, or with absent parts dropped) would turn into one key.
  const users: [issuer: string, sub: string][] = [
    [`${issuer}|b`, "c"],
    [issuer, "b|c"],
    [`${issuer}b`, "c"],
    [issuer, "bc"],
    [issuer, "3:abc"],
    [`${issuer}3:`, "abc"],
    [issuer, '","'],
    [`${issuer}","`, ""],
    [issuer, "-"],
  ];
  const scopes: Pick<CredentialsRequest, "roleArn" | "client">[] = [
    {},
    { roleArn: ROLE },
    { client: ROLE },
    { roleArn: "" },
    { client: "" },
    { roleArn: "", client: "" },
    { client: "-" },
    { roleArn: "-" },
    { roleArn: `${ROLE}1:x`, client: "y" },
    { roleArn: ROLE, client: "1:x1:y" },
  ];
  const requests: CredentialsRequest[] = [
    ...users.map(([iss, sub]) => ({ issuer: iss, sub, idToken: "t" })),
    ...scopes.map((scope) => ({ issuer, sub: "b", idToken: "t", ...scope })),
  ];
  const issued: string[] = [];
  for (const req of requests) issued.push(expectOk(t, await provider.get(req)).accessKeyId);
  t.equal(new Set(issued).size, requests.length, "every request got credentials of its own");
  // One identity per user, and one more for (issuer, "b") that every scope shares.
  t.same(fake.counts(), { GetId: users.length + 1, GetCredentialsForIdentity: requests.length });
  requests.forEach((req, i) => {
    const again = expectOk(t, answeredAtOnce(provider.get(req)));
    t.equal(again.accessKeyId, issued[i], `cached under a key of its own: ${JSON.stringify(req)}`);
  });
  t.same(fake.counts(), { GetId: users.length + 1, GetCredentialsForIdentity: requests.length });
});

t.test("credentials issued with less than the margin are handed out but not cached", async (t) => {
  const clock = Date.UTC(2030, 0, 1);
  const { fake, client } = await fakeWithClock(t, () => clock, 30_000);
  const provider = providerFor(client, { now: () => clock });
  const req = { issuer: ISSUER, sub: "frank", idToken: "t" };
  t.equal(expectOk(t, await provider.get(req)).accessKeyId, "AKID1");
  t.equal(expectOk(t, await provider.get(req)).accessKeyId, "AKID2");
  t.same(fake.counts(), { GetId: 1, GetCredentialsForIdentity: 2 });
});

t.test("AWS errors become typed results", async (t) => {
  const ok: FakeAnswer = { status: 200, body: { IdentityId: "us-east-1:fake-identity" } };
  const error = (status: number, type: string): FakeAnswer => ({
    status,
    body: { __type: type, message: `${type} from the fake` },
  });
  const cases: {
    name: string;
    getId: FakeAnswer;
    credentials?: FakeAnswer;
    maxAttempts?: number;
    kind: string;
    retryAfter?: number;
    calls: Record<string, number>;
  }[] = [
    {
      name: "NotAuthorizedException at GetId",
      getId: error(400, "NotAuthorizedException"),
      kind: "invalid_token",
      calls: { GetId: 1 },
    },
    {
      name: "NotAuthorizedException at GetCredentialsForIdentity",
      getId: ok,
      credentials: error(400, "NotAuthorizedException"),
      kind: "invalid_token",
      calls: { GetId: 1, GetCredentialsForIdentity: 1 },
    },
    {
      name: "TooManyRequestsException, after the SDK's own retry",
      getId: error(400, "TooManyRequestsException"),
      maxAttempts: 2,
      kind: "throttled",
      retryAfter: 1,
      calls: { GetId: 2 },
    },
    {
      name: "ThrottlingException",
      getId: ok,
      credentials: error(400, "ThrottlingException"),
      kind: "throttled",
      retryAfter: 1,
      calls: { GetId: 1, GetCredentialsForIdentity: 1 },
    },
    {
      name: "InternalErrorException (500)",
      getId: error(500, "InternalErrorException"),
      kind: "unavailable",
      calls: { GetId: 1 },
    },
    {
      name: "ResourceNotFoundException (our pool is misconfigured, not the caller's fault)",
      getId: error(400, "ResourceNotFoundException"),
      kind: "unavailable",
      calls: { GetId: 1 },
    },
    {
      name: "InvalidIdentityPoolConfigurationException (role not allowed)",
      getId: ok,
      credentials: error(400, "InvalidIdentityPoolConfigurationException"),
      kind: "unavailable",
      calls: { GetId: 1, GetCredentialsForIdentity: 1 },
    },
  ];
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const { fake, client } = await fakeService(
        t,
        (operation) => (operation === "GetId" ? c.getId : (c.credentials ?? c.getId)),
        c.maxAttempts ?? 1,
      );
      const metrics = recorder();
      const provider = providerFor(client, { metrics });
      const err = expectError(await provider.get({ issuer: ISSUER, sub: "gina", idToken: "t" }));
      t.type(err, CredentialsError);
      t.equal(err.kind, c.kind);
      t.equal(err.retryAfterSeconds, c.retryAfter);
      t.match(err.message, /from the fake/, "AWS's text is kept for the log");
      t.same(fake.counts(), c.calls);
      t.ok(metrics.events.includes(`exchange:${c.kind}`));
    });
  }

  t.test("incomplete answers are unavailable", async (t) => {
    const answers: [string, FakeAnswer, FakeAnswer][] = [
      ["GetId without IdentityId", { status: 200, body: {} }, { status: 200, body: {} }],
      ["no Credentials", ok, { status: 200, body: { IdentityId: "us-east-1:x" } }],
      [
        "no SessionToken",
        ok,
        { status: 200, body: { Credentials: { AccessKeyId: "A", SecretKey: "S", Expiration: 2e9 } } },
      ],
    ];
    for (const [name, getId, credentials] of answers) {
      const { client } = await fakeService(t, (operation) => (operation === "GetId" ? getId : credentials));
      const provider = providerFor(client);
      const err = expectError(await provider.get({ issuer: ISSUER, sub: "nat", idToken: "t" }));
      t.equal(err.kind, "unavailable", name);
      t.match(err.message, /answered without/, name);
    }
  });

  t.test("failures are shared by concurrent callers and never cached", async (t) => {
    const { fake, client } = await fakeService(t, () => error(400, "NotAuthorizedException"));
    const provider = providerFor(client, { throttledRetryAfterSeconds: 7 });
    const req = { issuer: ISSUER, sub: "hank", idToken: "t" };
    const all = await Promise.all(Array.from({ length: 10 }, () => provider.get(req)));
    t.ok(all.every((r) => expectError(r).kind === "invalid_token"));
    t.same(fake.counts(), { GetId: 1 });
    expectError(await provider.get(req));
    t.same(fake.counts(), { GetId: 2 }, "the next request asks again");
  });

  t.test("Retry-After is configurable", async (t) => {
    const { client } = await fakeService(t, () => error(400, "TooManyRequestsException"));
    const provider = providerFor(client, { throttledRetryAfterSeconds: 7 });
    t.equal(
      expectError(await provider.get({ issuer: ISSUER, sub: "ian", idToken: "t" })).retryAfterSeconds,
      7,
    );
  });

  t.test("ResourceNotFoundException for a cached identity forgets it", async (t) => {
    let gone = false;
    let ids = 0;
    const { client } = await fakeService(t, (operation): FakeAnswer => {
      if (operation === "GetId") return { status: 200, body: { IdentityId: `us-east-1:id-${++ids}` } };
      if (gone) {
        gone = false;
        return error(400, "ResourceNotFoundException");
      }
      return {
        status: 200,
        body: {
          Credentials: {
            AccessKeyId: "A",
            SecretKey: "S",
            SessionToken: "T",
            Expiration: Date.now() / 1000 + 3600,
          },
        },
      };
    });
    const provider = providerFor(client);
    const req = { issuer: ISSUER, sub: "jo", idToken: "t" };
    t.equal(expectOk(t, await provider.get(req)).identityId, "us-east-1:id-1");
    gone = true;
    t.equal(expectError(await provider.get({ ...req, roleArn: ROLE })).kind, "unavailable");
    t.equal(expectOk(t, await provider.get({ ...req, roleArn: ROLE })).identityId, "us-east-1:id-2");
  });
});

t.test("an unreachable service is unavailable (503)", async (t) => {
  const port = await freePort(); // closed again: nothing listens there
  const client = identityClient(`http://127.0.0.1:${port}`);
  t.teardown(() => client.destroy());
  const metrics = recorder();
  const provider = providerFor(client, { metrics });
  const err = expectError(await provider.get({ issuer: ISSUER, sub: "kim", idToken: "t" }));
  t.equal(err.kind, "unavailable");
  t.equal(err.retryAfterSeconds, undefined);
  t.match(err.message, /ECONNREFUSED/);
  t.same(metrics.events, ["miss:credentials", "miss:identity", "exchange:unavailable"]);
});

t.test("a service that never answers is unavailable after timeoutMs", async (t) => {
  const url = await serve(t, () => {
    // never answers
  });
  const client = identityClient(url);
  t.teardown(() => client.destroy());
  const provider = providerFor(client, { timeoutMs: 200 });
  const started = Date.now();
  const err = expectError(await provider.get({ issuer: ISSUER, sub: "lee", idToken: "t" }));
  t.equal(err.kind, "unavailable");
  t.ok(Date.now() - started < 3_000, "gave up in time");
});

t.test("a malformed issuer fails as a result, not a rejection", async (t) => {
  const client = identityClient("http://127.0.0.1:9");
  t.teardown(() => client.destroy());
  const provider = providerFor(client);
  t.equal(expectError(await provider.get({ issuer: "nope", sub: "m", idToken: "t" })).kind, "unavailable");
});
