// Bench identity pool: a protocol-level Cognito Identity stand-in (AWS JSON 1.1) on 127.0.0.1,
// run inside the orchestrator. cupbearer asks it once per run (GetId, then
// GetCredentialsForIdentity) and caches the answer, so it never competes for CPU while measuring.
// It checks nothing: signatures are the tests' business, the bench only needs credentials.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

/** Identity pool id the bench config names (any well-formed one: the stand-in accepts all). */
export const BENCH_IDENTITY_POOL_ID = "us-east-1:00000000-0000-4000-8000-00000000be5c";
export const BENCH_IDENTITY_ID = "us-east-1:11111111-1111-4111-8111-00000000be5c";
/** Access key id of the credentials it hands out: the signed scenario's preflight looks for it. */
export const BENCH_ACCESS_KEY_ID = "ASIABENCHKEY00000001";
const SECRET_KEY = "bench-secret-key/0123456789abcdefghijklmn";
const SESSION_TOKEN = "FwoGZXIvYXdzEBenchSessionToken//////////wEaDPlus+Slash/Equals=";
const LIFETIME_S = 3600;
const MAX_BODY_BYTES = 64 * 1024;

export interface IdentityService {
  endpoint: string;
  /** Calls per operation (the last part of X-Amz-Target) since start. */
  counts(): Readonly<Record<string, number>>;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** What the real service answers, in its shape: epoch seconds for `Expiration`, `__type` errors. */
function answer(operation: string): { status: number; body: Record<string, unknown> } {
  if (operation === "GetId") return { status: 200, body: { IdentityId: BENCH_IDENTITY_ID } };
  if (operation === "GetCredentialsForIdentity") {
    return {
      status: 200,
      body: {
        IdentityId: BENCH_IDENTITY_ID,
        Credentials: {
          AccessKeyId: BENCH_ACCESS_KEY_ID,
          SecretKey: SECRET_KEY,
          SessionToken: SESSION_TOKEN,
          Expiration: Math.floor(Date.now() / 1000) + LIFETIME_S,
        },
      },
    };
  }
  return { status: 400, body: { __type: "InvalidParameterException", message: "not in the bench stand-in" } };
}

export function startIdentityService(): Promise<IdentityService> {
  const calls: Record<string, number> = {};
  const server = createServer((req, res) => {
    const target = req.headers["x-amz-target"];
    const operation = (Array.isArray(target) ? target[0] : target)?.split(".").pop() ?? "(none)";
    calls[operation] = (calls[operation] ?? 0) + 1;
    void readJson(req).then(
      (body) => {
        const out =
          body === undefined
            ? { status: 400, body: { __type: "InvalidParameterException", message: "bad JSON body" } }
            : answer(operation);
        res.writeHead(out.status, { "content-type": "application/x-amz-json-1.1" });
        res.end(JSON.stringify(out.body));
      },
      () => res.destroy(),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        endpoint: `http://127.0.0.1:${port}`,
        counts: () => ({ ...calls }),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
