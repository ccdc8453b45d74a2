/**
 * The client side of Cognito's SRP-6a (USER_SRP_AUTH and the remembered-device DEVICE_SRP_AUTH),
 * on node:crypto and BigInt. The password never leaves the machine: Cognito gets A, then a
 * signature made with a key only someone who knows the password can derive.
 *
 * Cognito's variant, as its own SDKs implement it (amazon-cognito-identity-js AuthenticationHelper,
 * which the tests compare this file with on fixed inputs):
 * - the 3072-bit group of RFC 5054 (appendix A), g = 2, k = H(pad(N) | pad(g));
 * - x = H(pad(salt) | H(poolName | userId | ":" | password)), where poolName is the part of the
 *   pool id after "_" (a device's group key for device SRP, and userId its device key);
 * - S = (B − k·g^x)^(a + u·x) mod N, u = H(pad(A) | pad(B));
 * - the key: HKDF-SHA256(ikm = pad(S), salt = pad(u), info = "Caldera Derived Key"), 16 bytes;
 * - the claim: base64 HMAC-SHA256(key, poolName | userId | SECRET_BLOCK (decoded) | timestamp).
 * pad() is the big-endian hex of a number, with a 00 prepended when its top bit is set (a
 * positive two's complement); H is SHA-256 over the bytes of that hex.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";

/** RFC 5054's 3072-bit prime. */
const N_HEX =
  "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
  "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
  "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
  "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
  "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
  "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7" +
  "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C" +
  "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

export const N = BigInt(`0x${N_HEX}`);
export const g = 2n;

/** pad(): even-length hex of a non-negative number, with "00" first when its top bit is set. */
export function padHex(value: bigint): string {
  if (value < 0n) throw new RangeError("padHex takes non-negative numbers only");
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return /^[89a-f]/.test(hex) ? `00${hex}` : hex;
}

/** SHA-256 of the bytes a hex string spells, as 64 hex digits. */
export function hexHash(hex: string): string {
  return createHash("sha256").update(Buffer.from(hex, "hex")).digest("hex");
}

/** SHA-256 of a UTF-8 string, as 64 hex digits. */
function textHash(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const big = (hex: string): bigint => BigInt(`0x${hex}`);

/** base^exp mod m, square and multiply. */
export function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = ((base % m) + m) % m;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

/** k = H(pad(N) | pad(g)). */
export const k = big(hexHash(padHex(N) + padHex(g)));

/** Cognito's "pool name": the user pool id after its region and "_". */
export function poolNameOf(userPoolId: string): string {
  const at = userPoolId.indexOf("_");
  return at < 0 ? userPoolId : userPoolId.slice(at + 1);
}

/** The client's ephemeral pair: a secret and A = g^a mod N. */
export interface SrpClientKeys {
  readonly a: bigint;
  readonly A: bigint;
  /** A as Cognito reads it in SRP_A: hex, no padding. */
  readonly srpA: string;
}

/** A fresh ephemeral pair from 128 random bytes (or the given `a`, for tests on fixed inputs). */
export function srpClientKeys(a: bigint = big(randomBytes(128).toString("hex"))): SrpClientKeys {
  const A = modPow(g, a, N);
  // A ≡ 0 would let a server learn nothing and must never be sent; with a random a it cannot happen.
  if (A % N === 0n) throw new RangeError("SRP: A mod N is 0");
  return { a, A, srpA: A.toString(16) };
}

/** x = H(pad(salt) | H(poolName | userId ":" password)). */
export function passwordHashX(poolName: string, userId: string, password: string, saltHex: string): bigint {
  return big(hexHash(padHex(big(saltHex)) + textHash(`${poolName}${userId}:${password}`)));
}

/** u = H(pad(A) | pad(B)). */
export function scramble(A: bigint, B: bigint): bigint {
  return big(hexHash(padHex(A) + padHex(B)));
}

/** The 16-byte key both sides derive from S and u (HKDF-SHA256, one block, Cognito's info). */
export function derivedKey(S: bigint, u: bigint): Buffer {
  const prk = createHmac("sha256", Buffer.from(padHex(u), "hex"))
    .update(Buffer.from(padHex(S), "hex"))
    .digest();
  const info = Buffer.concat([Buffer.from("Caldera Derived Key", "utf8"), Buffer.from([1])]);
  return createHmac("sha256", prk).update(info).digest().subarray(0, 16);
}

/** What the server's PASSWORD_VERIFIER (or DEVICE_PASSWORD_VERIFIER) challenge gives. */
export interface SrpServerValues {
  /** SRP_B, hex. */
  readonly srpB: string;
  /** SALT, hex. */
  readonly salt: string;
}

/**
 * The client's key for a server's B and salt: who (poolName, userId) with which password.
 * Throws on a B ≡ 0 or a u of 0 (a malicious or broken server), as the protocol requires.
 */
export function clientKey(
  keys: SrpClientKeys,
  server: SrpServerValues,
  who: { poolName: string; userId: string; password: string },
): Buffer {
  const B = big(server.srpB);
  if (B % N === 0n) throw new RangeError("SRP: the server's B mod N is 0");
  const u = scramble(keys.A, B);
  if (u === 0n) throw new RangeError("SRP: u is 0");
  const x = passwordHashX(who.poolName, who.userId, who.password, server.salt);
  const base = B - ((k * modPow(g, x, N)) % N);
  const S = modPow(base, keys.a + u * x, N);
  return derivedKey(S, u);
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Cognito's TIMESTAMP: "ddd MMM D HH:mm:ss UTC YYYY" (the day not padded), e.g. "Tue Sep 4 07:05:09 UTC 2018". */
export function srpTimestamp(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return (
    `${WEEKDAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} UTC ${date.getUTCFullYear()}`
  );
}

/** PASSWORD_CLAIM_SIGNATURE: base64 HMAC-SHA256(key, poolName | userId | secret block | timestamp). */
export function claimSignature(
  key: Buffer,
  parts: { poolName: string; userId: string; secretBlock: string; timestamp: string },
): string {
  return createHmac("sha256", key)
    .update(Buffer.from(parts.poolName, "utf8"))
    .update(Buffer.from(parts.userId, "utf8"))
    .update(Buffer.from(parts.secretBlock, "base64"))
    .update(Buffer.from(parts.timestamp, "utf8"))
    .digest("base64");
}

/**
 * What ConfirmDevice stores for a remembered device: a random password (kept by us, 0600), its
 * salt and verifier (sent to Cognito). Device SRP later proves the password as user SRP does,
 * with the device group key as pool name and the device key as user id.
 */
export interface DeviceSecret {
  readonly password: string;
  /** DeviceSecretVerifierConfig.Salt: base64 of pad(salt). */
  readonly salt: string;
  /** DeviceSecretVerifierConfig.PasswordVerifier: base64 of pad(g^x mod N). */
  readonly verifier: string;
}

/** A new device password with its salt and verifier (random, or the given bytes for tests). */
export function deviceSecret(
  deviceGroupKey: string,
  deviceKey: string,
  random: { password: Buffer; salt: Buffer } = { password: randomBytes(40), salt: randomBytes(16) },
): DeviceSecret {
  const password = random.password.toString("base64");
  const saltHex = padHex(big(random.salt.toString("hex")));
  const x = big(hexHash(saltHex + textHash(`${deviceGroupKey}${deviceKey}:${password}`)));
  const verifier = padHex(modPow(g, x, N));
  return {
    password,
    salt: Buffer.from(saltHex, "hex").toString("base64"),
    verifier: Buffer.from(verifier, "hex").toString("base64"),
  };
}

/**
 * SECRET_HASH for an app client with a secret: base64 HMAC-SHA256(client secret, username | client id).
 * https://docs.aws.amazon.com/cognito/latest/developerguide/signing-up-users-in-your-app.html#cognito-user-pools-computing-secret-hash
 */
export function secretHash(clientSecret: string, username: string, clientId: string): string {
  return createHmac("sha256", clientSecret).update(`${username}${clientId}`, "utf8").digest("base64");
}
