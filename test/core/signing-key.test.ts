import { generateKeyPairSync } from "node:crypto";
import t from "tap";
import { parseSigningKey } from "../../src/core/signing-key.js";

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });

t.test("P-256 private keys as PKCS#8, SEC1 or JWK", async (t) => {
  const forms = {
    pkcs8: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    sec1: `\n  ${privateKey.export({ type: "sec1", format: "pem" }) as string}  \n`,
    jwk: JSON.stringify(privateKey.export({ format: "jwk" })),
  };
  for (const [name, text] of Object.entries(forms)) {
    const key = parseSigningKey(text);
    t.ok(typeof key !== "string" && key.equals(privateKey), name);
  }
});

t.test("everything else, in words", async (t) => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
  const ed = generateKeyPairSync("ed25519").privateKey;
  const encrypted = privateKey.export({
    type: "pkcs8",
    format: "pem",
    cipher: "aes-256-cbc",
    passphrase: "x",
  }) as string;
  const cases: Array<[string, string, string]> = [
    ["garbage", "hello", "expected a PEM private key or a JWK"],
    [
      "broken PEM",
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
      "is not a readable private key",
    ],
    ["broken JSON", "{nope", "is not a readable private key"],
    ["a JSON list", "[1]", "expected a PEM private key or a JWK"],
    ["a JSON null", "{}", "expected a private JWK (it has no d)"],
    [
      "a public JWK",
      JSON.stringify(publicKey.export({ format: "jwk" })),
      "expected a private JWK (it has no d)",
    ],
    [
      "a public PEM",
      publicKey.export({ type: "spki", format: "pem" }) as string,
      "is not a readable private key",
    ],
    ["an encrypted key", encrypted, "expected an unencrypted private key"],
    [
      "RSA",
      rsa.export({ type: "pkcs8", format: "pem" }) as string,
      "expected a P-256 (prime256v1) EC private key, as ES256 needs",
    ],
    [
      "Ed25519",
      ed.export({ type: "pkcs8", format: "pem" }) as string,
      "expected a P-256 (prime256v1) EC private key, as ES256 needs",
    ],
  ];
  for (const [name, text, expected] of cases) t.equal(parseSigningKey(text), expected, name);
});
