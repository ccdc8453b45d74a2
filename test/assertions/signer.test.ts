import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import t from "tap";
import { describeKey, readSigningKeys } from "../../src/assertions/keys.js";
import { AssertionSigner } from "../../src/assertions/signer.js";
import type { Identity } from "../../src/core/identity.js";

const key = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const first = key();
const second = key();
const ALICE: Identity = {
  issuerId: "p",
  subject: "alice",
  claims: { sub: "alice", exp: 10_000, iss: "https://idp" },
};

function signer(now: { ms: number }, cacheMaxEntries = 100) {
  return new AssertionSigner({
    issuer: "https://cb",
    keys: [first, second],
    lifetimeSeconds: 60,
    cacheMaxEntries,
    now: () => now.ms,
  });
}

t.test("signs with the first key; publishes every one", async (t) => {
  const now = { ms: Date.now() };
  const s = signer(now);
  const jwks = await s.jwks();
  const [k1, k2] = await Promise.all([describeKey(first), describeKey(second)]);
  t.strictSame(
    jwks.keys.map((k) => k.kid),
    [k1.kid, k2.kid],
  );
  const jwt = await s.assertion(
    "app",
    { ...ALICE, claims: { ...ALICE.claims, exp: now.ms / 1000 + 3600 } },
    "tok",
  );
  t.equal(decodeProtectedHeader(jwt).kid, k1.kid);
  const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), {
    issuer: "https://cb",
    audience: "app",
  });
  t.equal(payload.sub, "alice");
  t.equal(await s.pem(k2.kid), k2.pem);
  t.equal(await s.pem("nope"), undefined);
  t.throws(() => new AssertionSigner({ issuer: "x", keys: [], lifetimeSeconds: 60, cacheMaxEntries: 0 }));
});

t.test("reused per route and token for half its life, then signed again", async (t) => {
  const now = { ms: 1_000_000 };
  const s = signer(now);
  const a1 = await s.assertion("app", ALICE, "tok");
  t.equal(await s.assertion("app", ALICE, "tok"), a1, "same route and token: the cached one");
  t.not(await s.assertion("other", ALICE, "tok"), a1, "another route: its own");
  now.ms += 29_000;
  t.equal(await s.assertion("app", ALICE, "tok"), a1, "29 s on: still more than half its life ahead");
  now.ms += 1_000;
  const a2 = await s.assertion("app", ALICE, "tok");
  t.not(a2, a1, "30 s on: a new one");
  t.equal(decodeJwt(a2).iat, 1030);
  // Concurrent first requests share one signature.
  const [c1, c2] = await Promise.all([s.albData(ALICE, "t2"), s.albData(ALICE, "t2")]);
  t.equal(c1, c2);
});

t.test("never cached past the token's own expiry, nor without a token or a cache", async (t) => {
  const now = { ms: 1_000_000 };
  const s = signer(now);
  const ending = { ...ALICE, claims: { ...ALICE.claims, exp: 1001 } };
  const e1 = await s.assertion("app", ending, "ending");
  t.equal(decodeJwt(e1).exp, 1001, "exp capped at the token's");
  t.not(await s.assertion("app", ending, "ending"), e1, "too short to reuse: signed again");
  const noToken = await s.assertion("app", ALICE, undefined);
  now.ms += 1000;
  t.not(await s.assertion("app", ALICE, undefined), noToken, "no token, no cache");
  const uncached = signer(now, 0);
  const u1 = await uncached.assertion("app", ALICE, "tok");
  now.ms += 1000;
  t.not(await uncached.assertion("app", ALICE, "tok"), u1, "cacheMaxEntries 0 signs every time");
});

t.test("a failed signature is not kept", async (t) => {
  const now = { ms: 1_000_000 };
  const s = signer(now);
  // A subject JSON cannot hold: signing fails, and the next call for that token tries again.
  await t.rejects(s.albData({ ...ALICE, subject: 1n } as unknown as Identity, "bad"));
  t.type(await s.albData(ALICE, "bad"), "string", "signed once the identity is fine");
});

t.test("key files: read, checked, named when wrong", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cupbearer-keys-"));
  const good = join(dir, "good.pem");
  writeFileSync(good, first.export({ type: "pkcs8", format: "pem" }) as string);
  const bad = join(dir, "bad.pem");
  writeFileSync(bad, "not a key");
  const [k] = readSigningKeys([{ privateKeyFile: good }]);
  t.ok(k?.equals(first));
  t.throws(() => readSigningKeys([{ privateKeyFile: good }, { privateKeyFile: join(dir, "missing.pem") }]), {
    message: `assertions.keys[1].privateKeyFile: cannot read ${join(dir, "missing.pem")}: ENOENT`,
  });
  t.throws(() => readSigningKeys([{ privateKeyFile: bad }]), {
    message: "assertions.keys[0]: expected a PEM private key or a JWK",
  });
});
