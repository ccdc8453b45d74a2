import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";

/**
 * Sealing of what cookies carry: AES-256-GCM (encrypted and authenticated), with keys derived
 * by HKDF-SHA256 (RFC 5869) from the configured secrets, one key per purpose so a sign-in
 * cookie never opens as a session. The first secret seals; every secret opens, so keys rotate
 * without ending sessions. A sealed value carries its own expiry, checked on opening.
 *
 * Layout (base64url): version (1) | key id (4) | IV (12) | tag (16) | ciphertext.
 */

/** What a cookie is for: part of the key derivation and of the authenticated data. */
export type SealPurpose = "session" | "signin";

const VERSION = 1;
const HEADER = 1 + 4 + 12 + 16;
const SALT = Buffer.from("cupbearer sessions v1");

interface DerivedKey {
  readonly id: Buffer;
  readonly key: Buffer;
}

function derive(secret: string, purpose: SealPurpose): DerivedKey {
  const key = Buffer.from(hkdfSync("sha256", secret, SALT, `cupbearer ${purpose} cookie`, 32));
  // An id to find the key by; a hash of the key, which tells nothing about it.
  const id = createHash("sha256").update(key).digest().subarray(0, 4);
  return { id, key };
}

export class Sealer {
  readonly #keys: Record<SealPurpose, DerivedKey[]>;

  /** @param secrets the configured keys, the sealing one first; at least one. */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error("Sealer needs at least one secret");
    this.#keys = {
      session: secrets.map((s) => derive(s, "session")),
      signin: secrets.map((s) => derive(s, "signin")),
    };
  }

  /** Seals `payload` until `expiresAt` (seconds since the epoch). */
  seal(purpose: SealPurpose, payload: Record<string, unknown>, expiresAt: number): string {
    const { id, key } = this.#keys[purpose][0] as DerivedKey;
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.from(JSON.stringify({ ...payload, exp: Math.floor(expiresAt) }));
    const text = Buffer.concat([cipher.update(body), cipher.final()]);
    return Buffer.concat([Buffer.of(VERSION), id, iv, cipher.getAuthTag(), text]).toString("base64url");
  }

  /**
   * The payload, or undefined when the value was not sealed by one of our keys for `purpose`,
   * was changed or cut, or has expired at `now` (seconds).
   */
  open(purpose: SealPurpose, sealed: string, now: number): Record<string, unknown> | undefined {
    if (!/^[A-Za-z0-9_-]+$/.test(sealed)) return undefined;
    const raw = Buffer.from(sealed, "base64url");
    if (raw.length <= HEADER || raw[0] !== VERSION) return undefined;
    const id = raw.subarray(1, 5);
    const found = this.#keys[purpose].find((k) => k.id.equals(id));
    if (found === undefined) return undefined;
    let payload: unknown;
    try {
      const decipher = createDecipheriv("aes-256-gcm", found.key, raw.subarray(5, 17));
      decipher.setAAD(Buffer.from(purpose));
      decipher.setAuthTag(raw.subarray(17, HEADER));
      const body = Buffer.concat([decipher.update(raw.subarray(HEADER)), decipher.final()]);
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      return undefined;
    }
    if (typeof payload !== "object" || payload === null) return undefined;
    const record = payload as Record<string, unknown>;
    if (typeof record.exp !== "number" || record.exp <= now) return undefined;
    return record;
  }
}
