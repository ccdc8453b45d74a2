/**
 * Records as they are written to the shared store: AES-256-GCM under the first of the
 * configured keys, authenticated with the record's own store key as associated data, so a value
 * copied under another key (another identity, another role) fails to open. Every configured key
 * opens records: a new key goes first, the old one stays listed until its records have expired
 * (rotation). Nothing in a sealed record is readable or forgeable without a key.
 * NIST SP 800-38D: a random 96-bit IV per record; far fewer than 2^32 records per key here.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

const VERSION = "c1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** A key's short public name, written in each record so opening tries the right key first. */
function keyId(key: Buffer): string {
  return createHash("sha256").update("cupbearer store key id").update(key).digest("base64url").slice(0, 8);
}

/**
 * Decodes one configured key: base64 (or base64url) of exactly 32 random bytes, e.g. the output
 * of `openssl rand -base64 32`.
 * @throws RangeError when it is not 32 bytes.
 */
export function decodeStoreKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, /[-_]/.test(trimmed) ? "base64url" : "base64");
  // Buffer.from ignores what is not base64: re-encoding tells a real key from garbage.
  const canonical = key.toString("base64").replace(/=+$/, "");
  const given = trimmed.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  if (key.length !== KEY_BYTES || canonical !== given) {
    throw new RangeError("a store encryption key must be 32 bytes in base64 (openssl rand -base64 32)");
  }
  return key;
}

/** Seals and opens records with a list of keys; the first seals, all open. */
export class SealedRecords {
  readonly #keys: ReadonlyArray<{ id: string; key: Buffer }>;

  /** @param keys base64 keys, newest first (see {@link decodeStoreKey}); at least one. */
  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new RangeError("at least one store encryption key is needed");
    this.#keys = keys.map((k) => {
      const key = decodeStoreKey(k);
      return { id: keyId(key), key };
    });
  }

  /** `plaintext` sealed for the store key `aad`: `c1.<key id>.<iv>.<ciphertext+tag>`. */
  seal(aad: string, plaintext: string): string {
    const { id, key } = this.#keys[0] as { id: string; key: Buffer };
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${id}.${iv.toString("base64url")}.${body.toString("base64url")}`;
  }

  /**
   * The plaintext of a record sealed for `aad`, or undefined when it was not: another store key,
   * a key no longer configured, a changed byte, or not a record at all.
   */
  open(aad: string, record: string): string | undefined {
    const parts = record.split(".");
    if (parts.length !== 4 || parts[0] !== VERSION) return undefined;
    const [, id, ivText, bodyText] = parts as [string, string, string, string];
    const iv = Buffer.from(ivText, "base64url");
    const body = Buffer.from(bodyText, "base64url");
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES) return undefined;
    const entry = this.#keys.find((k) => k.id === id);
    if (entry === undefined) return undefined;
    try {
      const decipher = createDecipheriv("aes-256-gcm", entry.key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, "utf8"));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return plain.toString("utf8");
    } catch {
      return undefined;
    }
  }
}
