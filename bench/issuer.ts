// Bench issuer: a tiny OIDC-style token issuer on 127.0.0.1.
// Usage: node dist/bench/issuer.js PORT
//
// Generates an RSA-2048 key pair at start and serves:
//   GET /.well-known/jwks.json               the public key as a JWKS
//   GET /.well-known/openid-configuration    minimal discovery document
//   GET /token                               one fresh RS256 access token (text/plain)
//   GET /token?use=id                        one fresh RS256 ID token (for the AWS route)
//   GET /mint?count=N                        N unique tokens, one per line, streamed
// Issuer URL is http://127.0.0.1:PORT, so `iss` matches what cupbearer is configured with.
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from "node:crypto";
import { once } from "node:events";
import { createServer, type ServerResponse } from "node:http";
import { availableParallelism } from "node:os";
import { BENCH_CLIENT_ID, BENCH_SCOPE, BENCH_SUB } from "./shared.js";

const MAX_MINT = 5_000_000;

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write("usage: issuer.js PORT\n");
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const kid = randomUUID();
const jwks = JSON.stringify({
  keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }],
});
const discovery = JSON.stringify({
  issuer,
  jwks_uri: `${issuer}/.well-known/jwks.json`,
  id_token_signing_alg_values_supported: ["RS256"],
});

// The header never changes: encode it once.
const encodedHeader = Buffer.from(JSON.stringify({ alg: "RS256", kid, typ: "JWT" })).toString("base64url");

function signingInput(use: "access" | "id" = "access"): string {
  const iat = Math.floor(Date.now() / 1000);
  const claims =
    use === "access"
      ? { client_id: BENCH_CLIENT_ID, token_use: "access", scope: BENCH_SCOPE }
      : { aud: BENCH_CLIENT_ID, token_use: "id" };
  const payload = { iss: issuer, sub: BENCH_SUB, ...claims, exp: iat + 3600, iat, jti: randomUUID() };
  return `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
}

// RSA keys sign with RSASSA-PKCS1-v1_5 by default, which with SHA-256 is exactly RS256.
function mintSync(key: KeyObject, use: "access" | "id" = "access"): string {
  const input = signingInput(use);
  return `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
}

function mintAsync(key: KeyObject): Promise<string> {
  const input = signingInput();
  return new Promise((resolve, reject) => {
    sign("sha256", Buffer.from(input), key, (err, signature) => {
      if (err) reject(err);
      else resolve(`${input}.${signature.toString("base64url")}`);
    });
  });
}

async function mintInto(res: ServerResponse, count: number): Promise<void> {
  const started = performance.now();
  // With more than one usable core the async variant spreads signing over libuv's thread pool;
  // on a single core a plain loop is faster (no thread hand-off). Queried now because the
  // orchestrator may widen this process's CPU affinity just for minting.
  const parallel = availableParallelism() > 1;
  const batchSize = parallel ? 64 : 256;
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
  let minted = 0;
  while (minted < count && !res.destroyed) {
    const n = Math.min(batchSize, count - minted);
    const batch: string[] = parallel
      ? await Promise.all(Array.from({ length: n }, () => mintAsync(privateKey)))
      : Array.from({ length: n }, () => mintSync(privateKey));
    minted += n;
    // Respect back-pressure so a 100k-token stream doesn't pile up in memory.
    if (!res.write(`${batch.join("\n")}\n`)) await once(res, "drain");
  }
  res.end();
  const ms = performance.now() - started;
  process.stderr.write(
    `issuer: minted ${minted} tokens in ${ms.toFixed(0)} ms (${Math.round(minted / (ms / 1000))}/s, ${
      parallel ? `async on ${availableParallelism()} cores` : "sync loop on 1 core"
    })\n`,
  );
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", issuer);
  req.resume();
  if (req.method !== "GET") {
    res.writeHead(405).end();
    return;
  }
  switch (url.pathname) {
    case "/.well-known/jwks.json":
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=3600" });
      res.end(jwks);
      return;
    case "/.well-known/openid-configuration":
      res.writeHead(200, { "content-type": "application/json" });
      res.end(discovery);
      return;
    case "/token":
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      res.end(mintSync(privateKey, url.searchParams.get("use") === "id" ? "id" : "access"));
      return;
    case "/mint": {
      const count = Number(url.searchParams.get("count"));
      if (!Number.isInteger(count) || count <= 0 || count > MAX_MINT) {
        res.writeHead(400, { "content-type": "text/plain" }).end(`count must be an integer 1..${MAX_MINT}\n`);
        return;
      }
      mintInto(res, count).catch((err: unknown) => {
        process.stderr.write(`issuer: mint failed: ${String(err)}\n`);
        res.destroy();
      });
      return;
    }
    default:
      res.writeHead(404).end();
  }
});

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`issuer listening on ${issuer} (kid ${kid})\n`);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
