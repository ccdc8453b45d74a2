/**
 * Test glue for the Cognito Identity (identity pool) side of moto, and protocol-level stand-ins
 * for what moto cannot produce.
 *
 * What moto 5.2.1 does with identity pools (measured):
 * - GetId ignores Logins and returns a new identity id on every call.
 * - GetCredentialsForIdentity answers fixed credentials (AccessKeyId `TESTACCESSKEY12345`) that
 *   expire 90 s after the call, for any identity id, known or not, and ignores CustomRoleArn.
 * - Its Expiration (epoch seconds, with microseconds) comes from a naive local time read as UTC:
 *   off by the zone's offset unless TZ=UTC (TZ=Asia/Tokyo: 9 h in the past, so every
 *   credential looks expired), so startMotoUtc() runs moto with TZ=UTC.
 */
import { accessSync, constants } from "node:fs";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { delimiter, join } from "node:path";
import { CognitoIdentityClient, CreateIdentityPoolCommand } from "@aws-sdk/client-cognito-identity";
import { type Emulator, EmulatorUnavailableError, launchEmulator } from "../../demo/cognito-emulator.js";

/** The region moto's pools live in, here. */
export const MOTO_REGION = "us-east-1";

function findOnPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return join(dir, program);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Like startMoto() of moto.ts, with TZ=UTC so moto's credential Expiration is right. */
export function startMotoUtc(): Promise<Emulator> {
  const bin = findOnPath("moto_server");
  if (!bin) return Promise.reject(new EmulatorUnavailableError("moto_server not found on PATH"));
  return launchEmulator(
    async (port) => ({
      command: bin,
      args: ["-H", "127.0.0.1", "-p", String(port)],
      env: { ...process.env, TZ: "UTC" },
      endpoint: `http://127.0.0.1:${port}`,
      // No health route; the static JWKS route answers 200 without any pool.
      isReady: async (url, signal) =>
        (await fetch(`${url}/ready-probe/.well-known/jwks.json`, { signal })).ok,
    }),
    { name: "moto_server" },
  );
}

/** A Cognito Identity client for tests: dummy credentials, an explicit endpoint, few retries. */
export function identityClient(endpoint: string, maxAttempts = 1): CognitoIdentityClient {
  return new CognitoIdentityClient({
    region: MOTO_REGION,
    endpoint,
    maxAttempts,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
}

/** Creates an identity pool in moto that accepts the given user pool and returns its id. */
export async function createMotoIdentityPool(endpoint: string, providerName: string): Promise<string> {
  const client = identityClient(endpoint);
  try {
    const out = await client.send(
      new CreateIdentityPoolCommand({
        IdentityPoolName: `cupbearer_${Date.now()}`,
        AllowUnauthenticatedIdentities: false,
        CognitoIdentityProviders: [{ ProviderName: providerName, ClientId: "test-client" }],
      }),
    );
    if (!out.IdentityPoolId) throw new Error("CreateIdentityPool answered without an id");
    return out.IdentityPoolId;
  } finally {
    client.destroy();
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The operation named by an AWS JSON 1.1 request: `AWSCognitoIdentityService.GetId` → `GetId`. */
function operationOf(req: IncomingMessage): string {
  const target = req.headers["x-amz-target"];
  const value = Array.isArray(target) ? target[0] : target;
  return value?.split(".").pop() ?? "(none)";
}

/** A test HTTP server with call counts per operation. */
export interface CountingServer {
  endpoint: string;
  /** Calls per operation (X-Amz-Target's last part) since start or the last reset. */
  counts(): Record<string, number>;
  /** Requests that reached it, in order, with their parsed JSON bodies. */
  readonly requests: { operation: string; body: Record<string, unknown> }[];
  reset(): void;
  close(): Promise<void>;
}

function listen(
  handler: (req: IncomingMessage, res: ServerResponse, operation: string, body: Buffer) => void,
): Promise<CountingServer> {
  const requests: { operation: string; body: Record<string, unknown> }[] = [];
  const server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const operation = operationOf(req);
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(body.toString("utf8") || "{}") as Record<string, unknown>;
      } catch {
        // not JSON; keep {}
      }
      requests.push({ operation, body: parsed });
      handler(req, res, operation, body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        endpoint: `http://127.0.0.1:${port}`,
        requests,
        counts: () => {
          const out: Record<string, number> = {};
          for (const r of requests) out[r.operation] = (out[r.operation] ?? 0) + 1;
          return out;
        },
        reset: () => {
          requests.length = 0;
        },
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/**
 * A pass-through proxy in front of `target` (moto) that counts the operations reaching it, so
 * tests can prove what the cache kept away from AWS.
 */
export function startRecordingProxy(target: string): Promise<CountingServer> {
  const upstream = new URL(target);
  return listen((req, res, _operation, body) => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on("error", () => {
      res.writeHead(502).end();
    });
    out.end(body);
  });
}

/** One canned answer of the fake service. */
export interface FakeAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * A protocol-level Cognito Identity stand-in: answers every AWS JSON 1.1 request with what
 * `answer(operation, body)` returns, e.g. `{"__type":"NotAuthorizedException","message":"..."}`
 * with status 400, which moto cannot be made to produce.
 */
export function startFakeIdentityService(
  answer: (operation: string, body: Record<string, unknown>) => FakeAnswer,
): Promise<CountingServer> {
  return listen((_req, res, operation, raw) => {
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(raw.toString("utf8") || "{}") as Record<string, unknown>;
    } catch {
      // keep {}
    }
    const { status, body: out } = answer(operation, body);
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
    res.end(JSON.stringify(out));
  });
}
