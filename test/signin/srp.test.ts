/**
 * Our SRP against amazon-cognito-identity-js's AuthenticationHelper (the reference client Cognito
 * ships) on fixed inputs: the same A, key, claim and device verifier, byte for byte.
 */
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import t from "tap";
import {
  claimSignature,
  clientKey,
  deviceSecret,
  g,
  k,
  modPow,
  N,
  padHex,
  passwordHashX,
  poolNameOf,
  secretHash,
  srpClientKeys,
  srpTimestamp,
} from "../../src/signin/srp.js";

interface JsBigInteger {
  toString(radix: number): string;
}
interface Helper {
  k: JsBigInteger;
  smallAValue: JsBigInteger;
  largeAValue: JsBigInteger | undefined;
  getLargeAValue(cb: (err: Error | null, A: JsBigInteger) => void): void;
  getPasswordAuthenticationKey(
    user: string,
    password: string,
    B: JsBigInteger,
    salt: JsBigInteger,
    cb: (err: Error | null, key: Buffer) => void,
  ): void;
  generateHashDevice(groupKey: string, deviceKey: string, cb: (err: Error | null) => void): void;
  getRandomPassword(): string;
  getSaltDevices(): string;
  getVerifierDevices(): string;
  padHex(n: JsBigInteger): string;
}
const require = createRequire(import.meta.url);
const AuthenticationHelper = (
  require("amazon-cognito-identity-js/lib/AuthenticationHelper.js") as {
    default: new (poolName: string) => Helper;
  }
).default;
const BigInteger = (
  require("amazon-cognito-identity-js/lib/BigInteger.js") as {
    default: new (hex: string, radix: number) => JsBigInteger;
  }
).default;
const DateHelper = (
  require("amazon-cognito-identity-js/lib/DateHelper.js") as {
    default: new () => { getNowString(): string };
  }
).default;

const jsBig = (n: bigint) => new BigInteger(n.toString(16), 16);

// Fixed inputs: a client secret a, a server secret b, a salt, a user and a password.
const A_SECRET = BigInt(`0x${"5a".repeat(128)}`);
const B_SECRET = BigInt(`0x${"c3".repeat(32)}`);
const SALT = "8f0e1d2c3b4a59687766554433221100";
const POOL_ID = "eu-west-1_AbCdEf123";
const USER_ID = "0b5e1a2c-user-id-for-srp";
const PASSWORD = "Corr3ct-horse!";

/** The server's B for a verifier v: k·v + g^b mod N (what Cognito computes). */
function serverB(poolName: string, userId: string, password: string, salt: string): bigint {
  const v = modPow(g, passwordHashX(poolName, userId, password, salt), N);
  return (k * v + modPow(g, B_SECRET, N)) % N;
}

t.test("k, A and the password key are AuthenticationHelper's", async (t) => {
  const helper = new AuthenticationHelper(poolNameOf(POOL_ID));
  t.equal(helper.k.toString(16), k.toString(16), "k");
  helper.smallAValue = jsBig(A_SECRET);
  helper.largeAValue = undefined;
  const theirA = await new Promise<JsBigInteger>((resolve, reject) =>
    helper.getLargeAValue((err, A) => (err ? reject(err) : resolve(A))),
  );
  const ours = srpClientKeys(A_SECRET);
  t.equal(ours.srpA, theirA.toString(16), "A");

  const B = serverB(poolNameOf(POOL_ID), USER_ID, PASSWORD, SALT);
  const theirKey = await new Promise<Buffer>((resolve, reject) =>
    helper.getPasswordAuthenticationKey(USER_ID, PASSWORD, jsBig(B), new BigInteger(SALT, 16), (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
  const ourKey = clientKey(
    ours,
    { srpB: B.toString(16), salt: SALT },
    { poolName: poolNameOf(POOL_ID), userId: USER_ID, password: PASSWORD },
  );
  t.equal(ourKey.toString("hex"), Buffer.from(theirKey).toString("hex"), "the derived key");
  const wrong = clientKey(
    ours,
    { srpB: B.toString(16), salt: SALT },
    { poolName: poolNameOf(POOL_ID), userId: USER_ID, password: "wrong" },
  );
  t.not(wrong.toString("hex"), ourKey.toString("hex"), "another password, another key");

  // The claim: the reference client builds it inline in CognitoUser; the same recipe here.
  const secretBlock = Buffer.from("secret block from the server").toString("base64");
  const timestamp = "Tue Sep 4 07:05:09 UTC 2018";
  const reference = createHmac("sha256", theirKey)
    .update(
      Buffer.concat([
        Buffer.from(poolNameOf(POOL_ID)),
        Buffer.from(USER_ID),
        Buffer.from(secretBlock, "base64"),
        Buffer.from(timestamp),
      ]),
    )
    .digest("base64");
  t.equal(
    claimSignature(ourKey, { poolName: poolNameOf(POOL_ID), userId: USER_ID, secretBlock, timestamp }),
    reference,
    "the claim signature",
  );
});

t.test("padHex agrees with the reference for values with and without the top bit", async (t) => {
  const helper = new AuthenticationHelper("x");
  for (const n of [0x14n, 0xecn, 0x80n, 0x7fn, 0x100n, 0xabcn, N, B_SECRET]) {
    t.equal(padHex(n), helper.padHex(jsBig(n)).toLowerCase(), `pad(${n.toString(16).slice(0, 8)})`);
  }
  t.throws(() => padHex(-1n), RangeError);
});

t.test("the device verifier is the reference's for the same random password and salt", async (t) => {
  const helper = new AuthenticationHelper("unused");
  const groupKey = "-abcDEF12";
  const deviceKey = "eu-west-1_0e8f2d3c-device";
  await new Promise<void>((resolve, reject) =>
    helper.generateHashDevice(groupKey, deviceKey, (err) => (err ? reject(err) : resolve())),
  );
  const ours = deviceSecret(groupKey, deviceKey, {
    password: Buffer.from(helper.getRandomPassword(), "base64"),
    salt: Buffer.from(helper.getSaltDevices(), "hex"),
  });
  t.equal(ours.password, helper.getRandomPassword(), "password");
  t.equal(ours.salt, Buffer.from(helper.getSaltDevices(), "hex").toString("base64"), "salt");
  t.equal(ours.verifier, Buffer.from(helper.getVerifierDevices(), "hex").toString("base64"), "verifier");
  const fresh = deviceSecret(groupKey, deviceKey);
  t.not(fresh.password, ours.password, "random by default");
});

t.test("timestamps, pool names, secret hashes and refused server values", async (t) => {
  const now = new Date();
  const reference = new DateHelper().getNowString();
  // Both read the clock within the same second, except across a second boundary.
  const ours = srpTimestamp(now);
  if (ours !== reference) t.equal(srpTimestamp(new Date()), reference, "the reference's format");
  else t.equal(ours, reference, "the reference's format");
  t.equal(srpTimestamp(new Date(Date.UTC(2018, 8, 4, 7, 5, 9))), "Tue Sep 4 07:05:09 UTC 2018");
  t.equal(poolNameOf("us-east-1_Abc"), "Abc");
  t.equal(poolNameOf("nounderscore"), "nounderscore");
  // The documented recipe: HMAC-SHA256(secret, username + clientId), base64.
  t.equal(
    secretHash("s3cret", "alice", "client1"),
    createHmac("sha256", "s3cret").update("aliceclient1").digest("base64"),
  );
  const keys = srpClientKeys(A_SECRET);
  const who = { poolName: "p", userId: "u", password: "x" };
  t.throws(() => clientKey(keys, { srpB: N.toString(16), salt: SALT }, who), /B mod N is 0/);
  t.throws(() => clientKey(keys, { srpB: "0", salt: SALT }, who), /B mod N is 0/);
  t.ok(srpClientKeys().srpA.length > 500, "a random A is about 3072 bits");
});
