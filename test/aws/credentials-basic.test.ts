/**
 * CredentialsProvider's basic flow (GetId, GetOpenIdToken, STS AssumeRoleWithWebIdentity with a
 * session policy) and guests, through the real SDK clients: against moto behind a recording
 * proxy for the calls, caching and single flight; against protocol-level fakes for expiry with
 * an injected clock and for the STS errors moto never sends.
 */
import t from "tap";
import {
  type CredentialsProviderProps,
  cognitoProviderName,
  roleSessionName,
  type SessionPolicy,
} from "../../src/aws/credentials.js";
import {
  createMotoIdentityPool,
  expectError,
  expectOk,
  type FakeAnswer,
  type FakeXmlAnswer,
  fakeService,
  fakeSts,
  fakeWithClock,
  identityClient,
  MOTO_REGION,
  providerFor,
  recorder,
  startRecordingProxy,
  stsClient,
  stsCredentials,
  stsError,
} from "../support/moto-aws.js";
import { sharedMoto } from "../support/shared.js";

const USER_POOL = "us-east-1_0123456789abcdef0123456789abcdef";
const ISSUER = `https://cognito-idp.${MOTO_REGION}.amazonaws.com/${USER_POOL}`;
const PROVIDER = cognitoProviderName(MOTO_REGION, USER_POOL);
const ROLE = "arn:aws:iam::123456789012:role/files";

/** A session policy confining S3 to the template's prefix, as a route's keyPrefix would. */
function prefixPolicy(template: string): SessionPolicy {
  return {
    key: template,
    build: (identityId) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: ["s3:GetObject", "s3:PutObject"],
            Resource: `arn:aws:s3:::bucket1/${template.replace("{identityId}", identityId)}*`,
          },
        ],
      }),
  };
}

t.test("roleSessionName: STS's letters, 2 to 64 of them", async (t) => {
  const cases: [sub: string, expected: string][] = [
    ["alice", "alice"],
    ["0b5c1d2e-1111-4222-8333-444455556666", "0b5c1d2e-1111-4222-8333-444455556666"],
    ["a+b=c,d.e@f-g_h9", "a+b=c,d.e@f-g_h9"],
    ["user:42/ü 😀", "user-42----"],
    ["x".repeat(100), "x".repeat(64)],
    ["", "cupbearer"],
    ["a", "cupbearer-a"],
    ["é", "cupbearer--"],
  ];
  for (const [sub, expected] of cases) t.equal(roleSessionName(sub), expected, JSON.stringify(sub));
});

t.test("constructor: flow and STS client", async (t) => {
  const client = identityClient("http://127.0.0.1:9");
  const sts = stsClient("http://127.0.0.1:9");
  t.teardown(() => {
    client.destroy();
    sts.destroy();
  });
  t.equal(providerFor(client).flow, "enhanced", "enhanced by default");
  t.equal(providerFor(client, { flow: "basic", sts }).flow, "basic");
  t.throws(() => providerFor(client, { flow: "basic" }), RangeError, "basic needs sts");
  t.throws(() => providerFor(client, { flow: "classic" as "basic", sts }), RangeError);
});

t.test("against moto, through a recording proxy", async (t) => {
  const moto = await sharedMoto(t);
  if (!moto) return;
  const proxy = await startRecordingProxy(moto.endpoint);
  t.teardown(() => proxy.close());
  const identityPoolId = await createMotoIdentityPool(proxy.endpoint, PROVIDER);
  const client = identityClient(proxy.endpoint);
  const sts = stsClient(proxy.endpoint); // moto serves STS on the same port
  t.teardown(() => {
    client.destroy();
    sts.destroy();
  });
  const make = (extra: Partial<CredentialsProviderProps> = {}) => {
    const metrics = recorder();
    const provider = providerFor(client, { identityPoolId, sts, flow: "basic", metrics, ...extra });
    return { provider, metrics };
  };

  t.test("basic flow: the exact role, session name and policy reach STS", async (t) => {
    proxy.reset();
    const { provider, metrics } = make();
    const policy = prefixPolicy("private/{identityId}/");
    const req = {
      issuer: ISSUER,
      sub: "user:42/ü",
      idToken: "token-1",
      roleArn: ROLE,
      sessionPolicy: policy,
    };
    const c = expectOk(t, await provider.get(req));
    t.match(c.accessKeyId, /^ASIA/);
    t.match(c.identityId, /^us-east-1:/);
    const left = (c.expiresAt - Date.now()) / 1000;
    t.ok(left > 3590 && left <= 3601, `expires in ${left} s`);
    t.same(proxy.counts(), { GetId: 1, GetOpenIdToken: 1, AssumeRoleWithWebIdentity: 1 });
    const [getId, openId, assume] = proxy.requests;
    t.same(getId?.body, { IdentityPoolId: identityPoolId, Logins: { [PROVIDER]: "token-1" } });
    t.same(openId?.body, { IdentityId: c.identityId, Logins: { [PROVIDER]: "token-1" } });
    const token = (JSON.parse(openId?.answer ?? "{}") as { Token?: string }).Token;
    t.ok(token, "moto issued an OpenID token");
    t.same(assume?.body, {
      Action: "AssumeRoleWithWebIdentity",
      Version: "2011-06-15",
      RoleArn: ROLE,
      RoleSessionName: "user-42--",
      WebIdentityToken: token,
      Policy: policy.build(c.identityId),
    });
    t.match(assume?.body.Policy, `arn:aws:s3:::bucket1/private/${c.identityId}/*`);
    t.ok(
      proxy.requests.every((r) => !r.signed),
      "all three calls unsigned",
    );

    // Another token of the same user, same role and policy: from the cache.
    t.equal(expectOk(t, await provider.get({ ...req, idToken: "token-2" })), c);
    t.equal(proxy.requests.length, 3);
    t.same(metrics.events, ["miss:credentials", "miss:identity", "exchange:ok", "hit:credentials"]);
  });

  t.test("single flight: 100 concurrent first requests, one call of each", async (t) => {
    proxy.reset();
    const { provider, metrics } = make();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        provider.get({ issuer: ISSUER, sub: "carol", idToken: `token-${i}`, roleArn: ROLE }),
      ),
    );
    t.same(proxy.counts(), { GetId: 1, GetOpenIdToken: 1, AssumeRoleWithWebIdentity: 1 });
    t.equal(new Set(results.map((r) => expectOk(t, r))).size, 1, "everyone got the same credentials");
    t.same(proxy.requests[0]?.body.Logins, { [PROVIDER]: "token-0" }, "the first caller's token");
    t.equal(proxy.requests[2]?.body.Policy, undefined, "no policy without a sessionPolicy");
    t.same(
      metrics.events.filter((e) => e.startsWith("exchange:")),
      ["exchange:ok"],
    );
  });

  t.test("different session policies or roles never share credentials", async (t) => {
    proxy.reset();
    const { provider } = make();
    const base = { issuer: ISSUER, sub: "dora", idToken: "t", roleArn: ROLE };
    const a = { ...base, sessionPolicy: prefixPolicy("private/{identityId}/") };
    const b = { ...base, sessionPolicy: prefixPolicy("shared/{identityId}/") };
    const first = expectOk(t, await provider.get(a));
    proxy.reset();
    // Concurrently, with the identity id cached: one exchange per policy key, not one for all.
    const [x, y, z, w] = (
      await Promise.all([provider.get(b), provider.get(b), provider.get(base), provider.get(a)])
    ).map((r) => expectOk(t, r));
    t.same(proxy.counts(), { GetOpenIdToken: 2, AssumeRoleWithWebIdentity: 2 });
    t.equal(x, y);
    t.not(x?.accessKeyId, first.accessKeyId);
    t.not(z?.accessKeyId, x?.accessKeyId);
    t.equal(w, first, "policy a: still cached");
    const policies = proxy.requests
      .filter((r) => r.operation === "AssumeRoleWithWebIdentity")
      .map((r) => r.body.Policy);
    t.same(new Set(policies), new Set([b.sessionPolicy.build(first.identityId), undefined]));
    expectOk(t, await provider.get({ ...a, roleArn: `${ROLE}2` }));
    t.same(proxy.counts(), { GetOpenIdToken: 3, AssumeRoleWithWebIdentity: 3 }, "another role");
  });

  t.test("basic flow without a role: unavailable, nothing sent", async (t) => {
    proxy.reset();
    const { provider, metrics } = make();
    const err = expectError(await provider.get({ issuer: ISSUER, sub: "ed", idToken: "t" }));
    t.equal(err.kind, "unavailable");
    t.match(err.message, /needs a role/);
    t.same(proxy.counts(), {});
    t.same(metrics.events, ["miss:credentials"]);
  });

  for (const flow of ["enhanced", "basic"] as const) {
    t.test(`guests (${flow} flow): GetId without Logins, then cached`, async (t) => {
      proxy.reset();
      const { provider, metrics } = make({ flow });
      const all = await Promise.all(Array.from({ length: 10 }, () => provider.getGuest()));
      const [c, ...others] = new Set(all.map((r) => expectOk(t, r)));
      if (!c) throw new Error("no credentials");
      t.equal(others.length, 0, "the same credentials for ten guests");
      t.equal(c.accessKeyId, "TESTACCESSKEY12345");
      t.same(proxy.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
      t.same(proxy.requests[0]?.body, { IdentityPoolId: identityPoolId });
      t.same(proxy.requests[1]?.body, { IdentityId: c.identityId });
      t.ok(
        proxy.requests.every((r) => !r.signed),
        "unsigned",
      );
      t.equal(expectOk(t, await provider.getGuest()), c, "cached");
      t.same(proxy.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
      // The first caller starts the exchange (identity miss) before the other nine join it.
      t.same(metrics.events, [
        "miss:credentials",
        "miss:identity",
        ...Array<string>(9).fill("miss:credentials"),
        "exchange:ok",
        "hit:credentials",
      ]);
    });
  }
});

/** A fake identity service that knows one identity and hands out OpenID tokens for it. */
function fakeIdentity(t: Parameters<typeof fakeService>[0], openIdToken: FakeAnswer = openId()) {
  return fakeService(t, (operation) =>
    operation === "GetId" ? { status: 200, body: { IdentityId: "us-east-1:fake-identity" } } : openIdToken,
  );
}

function openId(): FakeAnswer {
  return { status: 200, body: { IdentityId: "us-east-1:fake-identity", Token: "openid-token" } };
}

const FAKE_CREDENTIALS = (): FakeXmlAnswer =>
  stsCredentials({
    AccessKeyId: "ASIAFAKE",
    SecretAccessKey: "secret",
    SessionToken: "session",
    Expiration: Date.now() + 3_600_000,
  });

t.test("basic flow against fakes: what STS receives and answers", async (t) => {
  const { client } = await fakeIdentity(t);
  const { fake, sts } = await fakeSts(t, FAKE_CREDENTIALS);
  const metrics = recorder();
  const provider = providerFor(client, { flow: "basic", sts, metrics });
  const c = expectOk(t, await provider.get({ issuer: ISSUER, sub: "fay", idToken: "t", roleArn: ROLE }));
  t.equal(c.accessKeyId, "ASIAFAKE");
  t.equal(c.identityId, "us-east-1:fake-identity");
  t.same(fake.requests[0]?.body, {
    Action: "AssumeRoleWithWebIdentity",
    Version: "2011-06-15",
    RoleArn: ROLE,
    RoleSessionName: "fay",
    WebIdentityToken: "openid-token",
  });
  t.equal(fake.requests[0]?.signed, false);
  t.same(metrics.events, ["miss:credentials", "miss:identity", "exchange:ok"]);
});

/** A basic-flow provider on fakes answering `openId` and `sts`; resolves to its failure. */
async function basicFailure(
  t: Parameters<typeof fakeService>[0],
  openIdAnswer: FakeAnswer | undefined,
  stsAnswer: FakeXmlAnswer | undefined,
) {
  const { client } = await fakeIdentity(t, openIdAnswer);
  // Two attempts: the SDK retries what it deems retryable (throttling, 5xx) once.
  const { fake, sts } = await fakeSts(t, () => stsAnswer ?? FAKE_CREDENTIALS(), 2);
  const metrics = recorder();
  const provider = providerFor(client, { flow: "basic", sts, metrics });
  const err = expectError(await provider.get({ issuer: ISSUER, sub: "gil", idToken: "t", roleArn: ROLE }));
  t.notMatch(err.message, /openid-token/, "the OpenID token stays out of the log");
  t.ok(metrics.events.includes(`exchange:${err.kind}`));
  return { err, stsCalls: fake.requests.length };
}

t.test("STS errors become typed results", async (t) => {
  // The OpenID token STS judges is Cognito's, just issued: its refusal is our trust policy or
  // clock, not the caller's token, so 503.
  const cases: [code: string, status: number, kind: string, stsCalls: number][] = [
    ["Throttling", 400, "throttled", 2], // STS's own code; the SDK retried once
    ["ThrottlingException", 400, "throttled", 2],
    ["InvalidIdentityToken", 400, "unavailable", 1],
    ["ExpiredTokenException", 400, "unavailable", 1],
    ["IDPRejectedClaim", 403, "unavailable", 1],
    ["AccessDenied", 403, "unavailable", 1],
    ["MalformedPolicyDocument", 400, "unavailable", 1],
    ["InternalFailure", 500, "unavailable", 2],
  ];
  for (const [code, status, kind, calls] of cases) {
    t.test(code, async (t) => {
      const { err, stsCalls } = await basicFailure(t, undefined, stsError(code, status));
      t.equal(err.kind, kind);
      t.equal(err.retryAfterSeconds, kind === "throttled" ? 1 : undefined);
      t.match(err.message, `${code} from the fake`, "STS's text is kept for the log");
      t.equal(stsCalls, calls);
    });
  }
});

t.test("other basic-flow failures", async (t) => {
  const cases: [
    name: string,
    openId: FakeAnswer | undefined,
    sts: FakeXmlAnswer | undefined,
    kind: string,
    stsCalls: number,
  ][] = [
    [
      "NotAuthorizedException at GetOpenIdToken: the caller's token",
      { status: 400, body: { __type: "NotAuthorizedException", message: "from the fake" } },
      undefined,
      "invalid_token",
      0,
    ],
    [
      "GetOpenIdToken answered without a Token",
      { status: 200, body: { IdentityId: "x" } },
      undefined,
      "unavailable",
      0,
    ],
    [
      "AssumeRoleWithWebIdentity answered without complete credentials",
      undefined,
      stsCredentials({ AccessKeyId: "A", SecretAccessKey: "S", Expiration: Date.now() + 3_600_000 }),
      "unavailable",
      1,
    ],
  ];
  for (const [name, openIdAnswer, stsAnswer, kind, calls] of cases) {
    t.test(name, async (t) => {
      const { err, stsCalls } = await basicFailure(t, openIdAnswer, stsAnswer);
      t.equal(err.kind, kind);
      t.equal(stsCalls, calls);
      if (kind === "unavailable") t.match(err.message, name);
    });
  }
});

t.test("the enhanced flow ignores session policies", async (t) => {
  const { fake, client } = await fakeWithClock(t, Date.now, 3_600_000);
  const provider = providerFor(client);
  const never: SessionPolicy = {
    key: "a",
    build: () => {
      throw new Error("the enhanced flow has no session policy");
    },
  };
  const req = { issuer: ISSUER, sub: "hal", idToken: "t" };
  const c = expectOk(t, await provider.get({ ...req, sessionPolicy: never }));
  t.equal(expectOk(t, await provider.get({ ...req, sessionPolicy: { ...never, key: "b" } })), c);
  t.equal(expectOk(t, await provider.get(req)), c);
  t.same(fake.counts(), { GetId: 1, GetCredentialsForIdentity: 1 });
});

t.test("guest credentials: refreshed ahead of Expiration (injected clock)", async (t) => {
  let clock = Date.UTC(2030, 0, 1);
  const { fake, client } = await fakeWithClock(t, () => clock, 3_600_000);
  const provider = providerFor(client, { now: () => clock });
  const first = expectOk(t, await provider.getGuest());
  t.equal(first.accessKeyId, "AKID1");
  clock += 3_600_000 - 60_000; // exactly the margin left: still served
  t.equal(expectOk(t, await provider.getGuest()), first);
  clock += 1;
  t.equal(expectOk(t, await provider.getGuest()).accessKeyId, "AKID2");
  t.same(fake.counts(), { GetId: 1, GetCredentialsForIdentity: 2 }, "one guest identity");
  t.same(fake.requests[2]?.body, { IdentityId: "us-east-1:fake-identity" });
  provider.clear();
  expectOk(t, await provider.getGuest());
  t.same(fake.counts(), { GetId: 2, GetCredentialsForIdentity: 3 }, "clear() forgets the guest too");
});

t.test("guest failures", async (t) => {
  t.test("a pool without guest access is unavailable, not 401", async (t) => {
    const { client } = await fakeService(t, () => ({
      status: 400,
      body: { __type: "NotAuthorizedException", message: "Unauthenticated access is not supported" },
    }));
    const err = expectError(await providerFor(client).getGuest());
    t.equal(err.kind, "unavailable");
  });

  t.test("a deleted guest identity is forgotten", async (t) => {
    let ids = 0;
    let gone = true;
    const { client } = await fakeService(t, (operation): FakeAnswer => {
      if (operation === "GetId") return { status: 200, body: { IdentityId: `us-east-1:guest-${++ids}` } };
      if (gone) {
        gone = false;
        return { status: 400, body: { __type: "ResourceNotFoundException", message: "gone" } };
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
    t.equal(expectError(await provider.getGuest()).kind, "unavailable");
    t.equal(expectOk(t, await provider.getGuest()).identityId, "us-east-1:guest-2");
  });
});
