import { randomBytes } from "node:crypto";
import t from "tap";
import { decodeStoreKey, SealedRecords } from "../../src/store/sealed-record.js";

const key = () => randomBytes(32).toString("base64");

t.test("a record opens only under the store key it was sealed for", async (t) => {
  const sealed = new SealedRecords([key()]);
  const record = sealed.seal("cupbearer:cr:one", "secret-value");
  t.notOk(record.includes("secret-value"), "the plaintext is not in the record");
  t.match(record, /^c1\.[\w-]{8}\.[\w-]{16}\.[\w-]+$/);
  t.equal(sealed.open("cupbearer:cr:one", record), "secret-value");
  t.equal(sealed.open("cupbearer:cr:two", record), undefined, "replayed under another key: refused");
  t.not(sealed.seal("cupbearer:cr:one", "secret-value"), record, "a fresh IV each time");
});

t.test("a changed byte, a wrong shape or an unknown key opens nothing", async (t) => {
  const sealed = new SealedRecords([key()]);
  const record = sealed.seal("k", "value");
  const [v, id, iv, body] = record.split(".") as [string, string, string, string];
  const flipped = Buffer.from(body, "base64url");
  flipped[0] = (flipped[0] as number) ^ 1;
  const cases: [string, string][] = [
    ["ciphertext changed", `${v}.${id}.${iv}.${flipped.toString("base64url")}`],
    ["other version", `c2.${id}.${iv}.${body}`],
    ["too few parts", `${v}.${id}.${body}`],
    ["short IV", `${v}.${id}.AAAA.${body}`],
    ["short body", `${v}.${id}.${iv}.AAAA`],
    ["unknown key id", `${v}.zzzzzzzz.${iv}.${body}`],
    ["not a record", "us-east-1:11111111-1111-4111-8111-111111111111"],
  ];
  for (const [name, text] of cases) t.equal(sealed.open("k", text), undefined, name);
  t.equal(new SealedRecords([key()]).open("k", record), undefined, "another key set cannot open it");
});

t.test("rotation: the first key seals, every key opens", async (t) => {
  const [oldKey, newKey] = [key(), key()];
  const before = new SealedRecords([oldKey]);
  const during = new SealedRecords([newKey, oldKey]);
  const after = new SealedRecords([newKey]);
  const old = before.seal("k", "from before");
  t.equal(during.open("k", old), "from before", "old records still open during rotation");
  const fresh = during.seal("k", "from during");
  t.equal(before.open("k", fresh), undefined, "new records are sealed with the new key");
  t.equal(after.open("k", fresh), "from during");
  t.equal(after.open("k", old), undefined, "once the old key is removed, its records are refused");
});

t.test("keys: 32 bytes in base64 or base64url, nothing else", async (t) => {
  const raw = randomBytes(32);
  t.same(decodeStoreKey(raw.toString("base64")), raw);
  t.same(decodeStoreKey(raw.toString("base64url")), raw);
  t.same(
    decodeStoreKey(` ${raw.toString("base64")}\n`),
    raw,
    "surrounding space from a Secret file is trimmed",
  );
  for (const bad of [
    randomBytes(16).toString("base64"),
    "not base64 at all, but long enough to look like one!",
    "",
  ]) {
    t.throws(
      () => decodeStoreKey(bad),
      { name: "RangeError", message: /32 bytes in base64/ },
      JSON.stringify(bad),
    );
  }
  t.throws(() => new SealedRecords([]), RangeError);
});
