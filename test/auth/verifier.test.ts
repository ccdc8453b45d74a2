import t from "tap";
import { Agent } from "undici";
import { UndiciJwksFetcher } from "../../src/auth/jwks-fetcher.js";
import { failureOf, resolveIssuer, TokenVerifier } from "../../src/auth/verifier.js";
import type { Identity } from "../../src/core/identity.js";
import { Refusal } from "../../src/errors.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";

/** The verifier with real keys on a real JWKS server; what the e2e tests cannot see directly. */
let issuer: TestIssuer;
const agent = new Agent();
t.before(async () => {
  issuer = await startIssuer();
});
t.teardown(async () => {
  await issuer.close();
  await agent.close();
});

function verifier(
  opts: {
    cacheMaxEntries?: number;
    now?: () => number;
    clientIds?: string[];
    cognito?: boolean;
    clockSkewSeconds?: number;
  } = {},
) {
  const counts = { hits: 0, misses: 0 };
  const v = new TokenVerifier({
    issuers: [
      {
        id: "local",
        issuer: issuer.issuer,
        jwksUri: issuer.jwksUri,
        clientIds: opts.clientIds ?? ["test-client"],
        cognito: opts.cognito ?? false,
      },
    ],
    fetcher: new UndiciJwksFetcher({ timeoutMs: 2000, maxBytes: 100_000, dispatcher: agent }),
    clockSkewSeconds: opts.clockSkewSeconds ?? 0,
    cacheMaxEntries: opts.cacheMaxEntries ?? 100,
    unknownKidWaitSeconds: 10,
    onCacheHit: () => counts.hits++,
    onCacheMiss: () => counts.misses++,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return { v, counts };
}

/** What verify() said: "passed", or the refusal. It never throws; a failure is a rejection. */
const reasonOf = async (result: unknown) =>
  Promise.resolve(result).then(
    () => "passed",
    (e: unknown) => (e instanceof Refusal ? `${e.answerName}/${e.reason}` : String(e)),
  );

t.test("resolveIssuer: Cognito form gives AWS's exact issuer and JWKS URI; jwksUri overrides", async (t) => {
  const pool = resolveIssuer({
    id: "pool",
    cognito: { region: "eu-west-1", userPoolId: "eu-west-1_AbC" },
    clientIds: ["c"],
    anyClient: false,
    allowInsecureHttp: false,
    maxTokenLifetimeSeconds: 86_400,
  });
  t.equal(pool.issuer, "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC");
  t.equal(pool.jwksUri, "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json");
  t.equal(pool.cognito, true);
  const overridden = resolveIssuer({
    id: "pool",
    cognito: { region: "eu-west-1", userPoolId: "eu-west-1_AbC" },
    jwksUri: "http://127.0.0.1:9/keys",
    anyClient: true,
    allowInsecureHttp: false,
    maxTokenLifetimeSeconds: 86_400,
  });
  t.equal(overridden.jwksUri, "http://127.0.0.1:9/keys");
  t.equal(overridden.clientIds, undefined, "anyClient: no client list");
});

t.test(
  "synchronous once the issuer's keys are cached; a failure is a rejection, never a throw",
  async (t) => {
    const { v } = verifier();
    t.ok(v.verify(issuer.token({ jti: "first" })) instanceof Promise, "the first token fetches the keys");
    await v.verify(issuer.token({ jti: "first" }));
    const second = v.verify(issuer.token({ jti: "second" }));
    t.notOk(second instanceof Promise, "a new token, its key cached: no promise");
    t.equal((second as Identity).subject, "user-1");
    const refused = v.verify(issuer.token({ jti: "third", client_id: "nope" }));
    t.ok(refused instanceof Promise, "a refusal comes as a rejected promise");
    t.equal(await reasonOf(refused), "invalid_token/client");
  },
);

t.test("a verified token is cached; the cache entry dies with the token", async (t) => {
  // The verifier's clock starts now (aws-jwt-verify checks a fresh token against the real one),
  // then only the injected clock moves: the cache must read it, not performance.now().
  let now = Date.now();
  const { v, counts } = verifier({ now: () => now });
  const exp = Math.floor(now / 1000) + 60;
  const token = issuer.token({ exp });
  const first = await v.verify(token);
  t.equal(first.subject, "user-1");
  t.equal(first.issuerId, "local");
  t.same([counts.hits, counts.misses], [0, 1]);
  const cached = v.verify(token);
  t.notOk(cached instanceof Promise, "a cached token is verified synchronously");
  t.equal(cached, first, "the same identity");
  t.same([counts.hits, counts.misses], [1, 1], "second time from the cache");
  now = exp * 1000 - 1;
  await v.verify(token);
  t.same([counts.hits, counts.misses], [2, 1], "a millisecond before exp: still from the cache");
  now = exp * 1000;
  t.equal(await reasonOf(v.verify(token)), "invalid_token/expired", "expired: not served from the cache");
  t.same([counts.hits, counts.misses], [2, 2]);
});

t.test("the allowed clock skew extends a cached token's life by exactly that much", async (t) => {
  let now = Date.now();
  const { v, counts } = verifier({ now: () => now, clockSkewSeconds: 30 });
  const exp = Math.floor(now / 1000) + 60;
  const token = issuer.token({ exp });
  await v.verify(token);
  now = (exp + 30) * 1000 - 1;
  t.equal(await reasonOf(v.verify(token)), "passed", "within the skew: accepted from the cache");
  t.same([counts.hits, counts.misses], [1, 1]);
  now = (exp + 30) * 1000;
  t.equal(await reasonOf(v.verify(token)), "invalid_token/expired", "past it: expired");
  t.same([counts.hits, counts.misses], [1, 2]);
});

t.test("a token the real clock accepts but the injected one says is over is not cached", async (t) => {
  const exp = Math.floor(Date.now() / 1000) + 60;
  const { v, counts } = verifier({ now: () => exp * 1000 });
  const token = issuer.token({ exp });
  t.equal(await reasonOf(v.verify(token)), "passed", "aws-jwt-verify reads the real clock");
  t.equal(await reasonOf(v.verify(token)), "passed");
  t.same([counts.hits, counts.misses], [0, 2], "never from the cache");
});

t.test("cache size 0 verifies every time", async (t) => {
  const { v, counts } = verifier({ cacheMaxEntries: 0 });
  const token = issuer.token();
  await v.verify(token);
  await v.verify(token);
  t.same([counts.hits, counts.misses], [0, 2]);
});

t.test("client checks for non-Cognito issuers follow token_use; azp is not an audience", async (t) => {
  const { v } = verifier();
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["access token by client_id", { token_use: "access", client_id: "test-client" }, "passed"],
    [
      "access token with only a matching aud",
      { token_use: "access", client_id: "x", aud: "test-client" },
      "invalid_token/client",
    ],
    ["ID token by aud", { token_use: "id", client_id: undefined, aud: "test-client" }, "passed"],
    [
      "ID token with aud list",
      { token_use: "id", client_id: undefined, aud: ["a", "test-client"] },
      "passed",
    ],
    ["ID token with only client_id", { token_use: "id", aud: "x" }, "invalid_token/client"],
    ["no token_use: aud", { token_use: undefined, client_id: undefined, aud: "test-client" }, "passed"],
    ["no token_use: client_id", { token_use: undefined }, "passed"],
    [
      "no token_use: azp only",
      { token_use: undefined, client_id: undefined, azp: "test-client" },
      "invalid_token/client",
    ],
    ["no sub", { sub: undefined }, "invalid_token/malformed"],
    ["empty sub", { sub: "" }, "invalid_token/malformed"],
  ];
  for (const [name, claims, expected] of cases)
    t.equal(await reasonOf(v.verify(issuer.token(claims))), expected, name);
});

t.test("any client when the issuer has no client list", async (t) => {
  const { v } = verifier({ clientIds: undefined as never });
  const open = new TokenVerifier({
    issuers: [
      { id: "local", issuer: issuer.issuer, jwksUri: issuer.jwksUri, clientIds: undefined, cognito: false },
    ],
    fetcher: new UndiciJwksFetcher({ timeoutMs: 2000, maxBytes: 100_000, dispatcher: agent }),
    clockSkewSeconds: 0,
    cacheMaxEntries: 10,
    unknownKidWaitSeconds: 10,
  });
  t.equal(await reasonOf(open.verify(issuer.token({ client_id: "anyone" }))), "passed");
  t.equal(await reasonOf(v.verify(issuer.token({ client_id: "anyone" }))), "invalid_token/client");
});

t.test("Cognito issuers use Cognito's own rules: token_use must be id or access", async (t) => {
  const { v } = verifier({ cognito: true });
  t.equal(await reasonOf(v.verify(issuer.token())), "passed");
  t.equal(
    await reasonOf(v.verify(issuer.token({ token_use: "refresh" }))),
    "invalid_token/malformed",
    "not a token a Cognito pool issues for APIs",
  );
  t.equal(await reasonOf(v.verify(issuer.token({ client_id: "nope" }))), "invalid_token/client");
});

t.test("no issuers configured: every token is refused", async (t) => {
  const v = new TokenVerifier({
    issuers: [],
    fetcher: new UndiciJwksFetcher({ timeoutMs: 2000, maxBytes: 1000, dispatcher: agent }),
    clockSkewSeconds: 0,
    cacheMaxEntries: 10,
    unknownKidWaitSeconds: 10,
  });
  t.equal(v.ready, true, "nothing to load");
  t.equal(await reasonOf(v.verify(issuer.token())), "invalid_token/issuer");
});

t.test("failureOf maps unknown errors to malformed, keeps Refusals", async (t) => {
  const own = new Refusal("scope");
  t.equal(failureOf(own), own);
  t.equal(failureOf(new Error("weird")).reason, "malformed");
  t.equal(failureOf("not even an error").reason, "malformed");
});
