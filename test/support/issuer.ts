import {
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
} from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A small OIDC-style issuer for tests: RSA keys made at test time, a JWKS endpoint on 127.0.0.1,
 * and token minting with any header or payload — including the malformed ones an attacker sends.
 */
export interface TestKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: Record<string, string>;
}

export function makeKey(kid: string = randomUUID()): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = publicKey.export({ format: "jwk" }) as Record<string, string>;
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: "RS256", use: "sig" } };
}

const b64url = (v: Buffer | string) => Buffer.from(v).toString("base64url");

/** Signs header.payload with RS256 (or leaves the signature empty for alg "none"). */
export function signJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key?: KeyObject,
): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  if (key === undefined) return `${input}.`;
  return `${input}.${b64url(sign("sha256", Buffer.from(input), key))}`;
}

export interface TestIssuer {
  issuer: string;
  jwksUri: string;
  keys: TestKey[];
  /** JWKS requests served so far. */
  jwksRequests: number;
  /** When false, the JWKS endpoint answers 503 (the issuer is down). */
  up: boolean;
  /** A token with sensible defaults, any field overridable; `key` picks the signing key. */
  token(
    payload?: Record<string, unknown>,
    opts?: { key?: TestKey; header?: Record<string, unknown> },
  ): string;
  close(): Promise<void>;
}

export async function startIssuer(opts: { clientId?: string } = {}): Promise<TestIssuer> {
  const clientId = opts.clientId ?? "test-client";
  const state = { keys: [makeKey()], jwksRequests: 0, up: true };
  const server: Server = createServer((req, res) => {
    if (req.url === "/.well-known/jwks.json") {
      state.jwksRequests++;
      if (!state.up) return res.writeHead(503).end();
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ keys: state.keys.map((k) => k.publicJwk) }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const result: TestIssuer = {
    issuer,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    get keys() {
      return state.keys;
    },
    set keys(k) {
      state.keys = k;
    },
    get jwksRequests() {
      return state.jwksRequests;
    },
    set jwksRequests(n) {
      state.jwksRequests = n;
    },
    get up() {
      return state.up;
    },
    set up(v) {
      state.up = v;
    },
    token(payload = {}, o = {}) {
      const key = o.key ?? (state.keys[0] as TestKey);
      const now = Math.floor(Date.now() / 1000);
      return signJwt(
        { alg: "RS256", kid: key.kid, typ: "JWT", ...o.header },
        {
          iss: issuer,
          sub: "user-1",
          client_id: clientId,
          token_use: "access",
          scope: "orders/read",
          iat: now,
          exp: now + 600,
          jti: randomUUID(),
          ...payload,
        },
        key.privateKey,
      );
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  return result;
}

/** HS256 keyed with the issuer's public key (as PEM): the classic key-confusion forgery. */
export function hs256WithPublicKey(key: TestKey, payload: Record<string, unknown>): string {
  const input = `${b64url(JSON.stringify({ alg: "HS256", kid: key.kid, typ: "JWT" }))}.${b64url(JSON.stringify(payload))}`;
  const publicPem = createPublicKey(key.privateKey).export({ format: "pem", type: "spki" });
  return `${input}.${b64url(createHmac("sha256", publicPem).update(input).digest())}`;
}
