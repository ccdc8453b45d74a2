import type { KeyObject } from "node:crypto";
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { calculateJwkThumbprint, exportJWK, exportSPKI, type JWK } from "jose";
import type { AssertionKeyConfig } from "../config/types.js";
import { parseSigningKey } from "../core/signing-key.js";

/** One signing key, ready to sign and to publish. */
export interface SigningKey {
  /** The RFC 7638 JWK thumbprint (SHA-256) of its public key: stable, and the same on every pod. */
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** Its public key as published in the JWKS (`kid`, `alg: ES256`, `use: sig`). */
  readonly jwk: JWK;
  /** Its public key as PEM (SubjectPublicKeyInfo), as ALB clients fetch it by `kid`. */
  readonly pem: string;
}

/**
 * `assertions.keys` → the private keys, in order (the first signs). Files are read now, so a
 * reload reads them again; throws naming the entry (never the key) when one cannot be read.
 */
export function readSigningKeys(keys: readonly AssertionKeyConfig[]): KeyObject[] {
  return keys.map((entry, i) => {
    const at = `assertions.keys[${i}]`;
    let text = entry.privateKey;
    if (text === undefined) {
      const file = entry.privateKeyFile as string;
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        throw new Error(
          `${at}.privateKeyFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        );
      }
    }
    const key = parseSigningKey(text);
    if (typeof key === "string") throw new Error(`${at}: ${key}`);
    return key;
  });
}

/** A private key → its `kid`, published JWK and PEM (jose's exports). */
export async function describeKey(privateKey: KeyObject): Promise<SigningKey> {
  const publicKey = createPublicKey(privateKey);
  const exported = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exported, "sha256");
  const jwk: JWK = {
    kty: exported.kty,
    crv: exported.crv,
    x: exported.x,
    y: exported.y,
    kid,
    alg: "ES256",
    use: "sig",
  };
  return { kid, privateKey, jwk, pem: await exportSPKI(publicKey) };
}
