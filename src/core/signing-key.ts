import { createPrivateKey, type JsonWebKey, type KeyObject } from "node:crypto";

/**
 * The private keys cupbearer signs identity assertions with: ES256 (RFC 7518 §3.4) needs a NIST
 * P-256 key. Pure: parses text, reads no file.
 */

/** Node's name of the P-256 curve (RFC 7518's `P-256`, OpenSSL's `prime256v1`). */
const P256 = "prime256v1";

/**
 * PEM (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`) or a JWK as JSON → the key, or a problem
 * in words (never the key's text). Only unencrypted P-256 private keys are accepted.
 */
export function parseSigningKey(text: string): KeyObject | string {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith("{")) {
      // Text that starts with "{" and parses is an object.
      const jwk = JSON.parse(trimmed) as JsonWebKey;
      if (typeof jwk.d !== "string") return "expected a private JWK (it has no d)";
      key = createPrivateKey({ key: jwk, format: "jwk" });
    } else if (trimmed.startsWith("-----BEGIN")) {
      if (trimmed.includes("ENCRYPTED")) return "expected an unencrypted private key";
      key = createPrivateKey({ key: trimmed, format: "pem" });
    } else {
      return "expected a PEM private key or a JWK";
    }
  } catch {
    return "is not a readable private key";
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== P256) {
    return "expected a P-256 (prime256v1) EC private key, as ES256 needs";
  }
  return key;
}
