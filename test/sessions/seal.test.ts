/** Sealing: AES-256-GCM under HKDF-derived keys, one per purpose; rotation; expiry; tampering. */
import t from "tap";
import { Sealer } from "../../src/sessions/seal.js";

const A = "a".repeat(32);
const B = "b".repeat(32);
const NOW = 1_800_000_000;

t.test("what one key seals, it opens, until it expires", async (t) => {
  const s = new Sealer([A]);
  const sealed = s.seal("session", { i: "token" }, NOW + 10);
  t.match(sealed, /^[A-Za-z0-9_-]+$/);
  t.same(s.open("session", sealed, NOW), { i: "token", exp: NOW + 10 });
  t.equal(s.open("session", sealed, NOW + 10), undefined, "expired");
  t.equal(s.open("signin", sealed, NOW), undefined, "another purpose");
  t.not(s.seal("session", { i: "token" }, NOW + 10), sealed, "a fresh IV each time");
});

t.test("rotation: the first key seals, every key opens", async (t) => {
  const old = new Sealer([A]).seal("session", { v: 1 }, NOW + 10);
  const rotated = new Sealer([B, A]);
  t.same(rotated.open("session", old, NOW), { v: 1, exp: NOW + 10 });
  const fresh = rotated.seal("session", { v: 2 }, NOW + 10);
  t.equal(new Sealer([A]).open("session", fresh, NOW), undefined, "sealed with B");
  t.same(new Sealer([B]).open("session", fresh, NOW), { v: 2, exp: NOW + 10 });
  t.throws(() => new Sealer([]), /at least one/);
});

t.test("anything changed or cut opens as nothing", async (t) => {
  const s = new Sealer([A]);
  const sealed = s.seal("session", { v: 1 }, NOW + 10);
  const raw = Buffer.from(sealed, "base64url");
  const flip = (i: number) => {
    const copy = Buffer.from(raw);
    copy[i] = (copy[i] as number) ^ 1;
    return copy.toString("base64url");
  };
  for (const [what, value] of [
    ["version", flip(0)],
    ["key id", flip(2)],
    ["iv", flip(8)],
    ["tag", flip(20)],
    ["ciphertext", flip(raw.length - 1)],
    ["cut", sealed.slice(0, 40)],
    ["empty", ""],
    ["not base64url", `${sealed}!`],
  ] as const) {
    t.equal(s.open("session", value, NOW), undefined, what);
  }
});
