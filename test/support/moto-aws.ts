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
 * - GetId without Logins (a guest) works whatever the pool's AllowUnauthenticatedIdentities says.
 * - GetOpenIdToken ignores Logins and answers any IdentityId, even one it never issued; its Token
 *   is a random "<region>:<uuid>", not a JWT.
 * And with STS, on the same port (an unsigned request is routed by the Action in its form body):
 * - AssumeRoleWithWebIdentity checks nothing: any WebIdentityToken (even empty), any RoleArn
 *   (a role that does not exist, or not an ARN at all), any RoleSessionName (spaces, 65+
 *   characters), any Policy (even text that is not JSON), DurationSeconds 1. Each call answers a
 *   fresh ASIA... key pair expiring DurationSeconds (default 3600) later, an ISO time that is
 *   right whatever TZ says.
 * - Session policies are stored but not enforced: with auth on, credentials whose Policy allows
 *   only `bucket1/private/me/*` still PUT `bucket1/private/other/out.txt` (only the role's own
 *   policies are checked; a wrong secret is refused). So the proof of a session policy here is
 *   the exact Policy text reaching moto, not a refusal.
 * - With auth on, it answers 500 to the unsigned AssumeRoleWithWebIdentity, as to GetId.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CognitoIdentityClient, CreateIdentityPoolCommand } from "@aws-sdk/client-cognito-identity";
import { STSClient } from "@aws-sdk/client-sts";
import type { Test } from "tap";
import {
  type CredentialsCacheKind,
  type CredentialsError,
  type CredentialsMetrics,
  CredentialsProvider,
  type CredentialsProviderProps,
  type CredentialsResult,
  type ExchangeResult,
} from "../../src/aws/credentials.js";

export { startMotoUtc } from "./moto.js";

/** The region moto's pools live in, here. */
export const MOTO_REGION = "us-east-1";

/** A Cognito Identity client for tests: dummy credentials, an explicit endpoint, few retries. */
export function identityClient(endpoint: string, maxAttempts = 1): CognitoIdentityClient {
  return new CognitoIdentityClient({
    region: MOTO_REGION,
    endpoint,
    maxAttempts,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
}

/** An STS client for tests, like identityClient(); AssumeRoleWithWebIdentity is unsigned anyway. */
export function stsClient(endpoint: string, maxAttempts = 1): STSClient {
  return new STSClient({
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

/**
 * The operation and parameters of a request: AWS JSON 1.1 (Cognito Identity) names it in
 * X-Amz-Target (`AWSCognitoIdentityService.GetId` → `GetId`) with a JSON body; the AWS Query
 * protocol (STS) names it in the form body's `Action`.
 */
function parseRequest(
  req: IncomingMessage,
  raw: Buffer,
): { operation: string; body: Record<string, unknown> } {
  const text = raw.toString("utf8");
  if (String(req.headers["content-type"]).startsWith("application/x-www-form-urlencoded")) {
    const body: Record<string, unknown> = Object.fromEntries(new URLSearchParams(text));
    return { operation: typeof body.Action === "string" ? body.Action : "(none)", body };
  }
  const target = req.headers["x-amz-target"];
  const value = Array.isArray(target) ? target[0] : target;
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text || "{}") as Record<string, unknown>;
  } catch {
    // not JSON; keep {}
  }
  return { operation: value?.split(".").pop() ?? "(none)", body };
}

/** One request that reached a CountingServer. */
export interface RecordedRequest {
  operation: string;
  /** The parsed JSON body, or the form parameters of an AWS Query request. */
  body: Record<string, unknown>;
  /** Whether it carried an Authorization header. */
  signed: boolean;
  /** The answer's body, once complete (recording proxy only). */
  answer?: string;
}

/** A test HTTP server with call counts per operation. */
export interface CountingServer {
  endpoint: string;
  /** Calls per operation (X-Amz-Target's last part, or Action) since start or the last reset. */
  counts(): Record<string, number>;
  /** Requests that reached it, in order, with their parsed bodies. */
  readonly requests: RecordedRequest[];
  reset(): void;
  close(): Promise<void>;
}

function listen(
  handler: (req: IncomingMessage, res: ServerResponse, parsed: RecordedRequest, body: Buffer) => void,
): Promise<CountingServer> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const parsed: RecordedRequest = { ...parseRequest(req, body), signed: !!req.headers.authorization };
      requests.push(parsed);
      handler(req, res, parsed, body);
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
  return listen((req, res, recorded, body) => {
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
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          recorded.answer = Buffer.concat(chunks).toString("utf8");
        });
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
  return listen((_req, res, { operation, body }) => {
    const { status, body: out } = answer(operation, body);
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
    res.end(JSON.stringify(out));
  });
}

/** One canned answer of the fake STS: an AWS Query protocol XML document. */
export interface FakeXmlAnswer {
  status: number;
  xml: string;
}

const STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/";

/** An AWS Query protocol error, as STS sends it, e.g. `Throttling` (400). */
export function stsError(code: string, status = 400): FakeXmlAnswer {
  return {
    status,
    xml: `<ErrorResponse xmlns="${STS_NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${code} from the fake</Message></Error><RequestId>fake</RequestId></ErrorResponse>`,
  };
}

/** A successful AssumeRoleWithWebIdentity answer; leave a field out to send an incomplete one. */
export function stsCredentials(c: {
  AccessKeyId?: string;
  SecretAccessKey?: string;
  SessionToken?: string;
  /** Epoch milliseconds. */
  Expiration?: number;
}): FakeXmlAnswer {
  const field = (name: string, value: string | undefined) =>
    value === undefined ? "" : `<${name}>${value}</${name}>`;
  const expiration = c.Expiration === undefined ? undefined : new Date(c.Expiration).toISOString();
  return {
    status: 200,
    xml:
      `<AssumeRoleWithWebIdentityResponse xmlns="${STS_NS}"><AssumeRoleWithWebIdentityResult><Credentials>` +
      field("AccessKeyId", c.AccessKeyId) +
      field("SecretAccessKey", c.SecretAccessKey) +
      field("SessionToken", c.SessionToken) +
      field("Expiration", expiration) +
      `</Credentials></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
  };
}

/**
 * A protocol-level STS stand-in (AWS Query protocol: form-encoded POST, XML answers) answering
 * with what `answer(action, params)` returns: throttling and the token errors moto never sends.
 */
export function startFakeStsService(
  answer: (action: string, params: Record<string, unknown>) => FakeXmlAnswer,
): Promise<CountingServer> {
  return listen((_req, res, { operation, body }) => {
    const { status, xml } = answer(operation, body);
    res.writeHead(status, { "content-type": "text/xml" });
    res.end(xml);
  });
}

// Shared by the credentials tests.

/** The identity pool id of the fakes (the fakes accept any). */
export const FAKE_POOL = `${MOTO_REGION}:00000000-0000-4000-8000-000000000000`;

/** Records every metrics hook call, in order. */
export function recorder(): CredentialsMetrics & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    onExchange: (result: ExchangeResult, seconds: number) => {
      if (!(seconds >= 0)) throw new Error(`bad duration ${seconds}`);
      events.push(`exchange:${result}`);
    },
    onCacheHit: (kind: CredentialsCacheKind) => events.push(`hit:${kind}`),
    onCacheMiss: (kind: CredentialsCacheKind) => events.push(`miss:${kind}`),
  };
}

export function expectOk(t: Test, r: CredentialsResult) {
  if (!r.ok) throw new Error(`expected credentials, got ${r.error.kind}: ${r.error.message}`);
  t.ok(r.ok);
  return r.credentials;
}

export function expectError(r: CredentialsResult): CredentialsError {
  if (r.ok) throw new Error("expected a failure, got credentials");
  return r.error;
}

/** A fake identity service answering with `answer`, and an SDK client pointed at it; both closed at teardown. */
export async function fakeService(
  t: Test,
  answer: Parameters<typeof startFakeIdentityService>[0],
  maxAttempts?: number,
) {
  const fake = await startFakeIdentityService(answer);
  t.teardown(() => fake.close());
  const client = identityClient(fake.endpoint, maxAttempts);
  t.teardown(() => client.destroy());
  return { fake, client };
}

/** A fake STS answering with `answer`, and an SDK client pointed at it; both closed at teardown. */
export async function fakeSts(
  t: Test,
  answer: Parameters<typeof startFakeStsService>[0],
  maxAttempts?: number,
) {
  const fake = await startFakeStsService(answer);
  t.teardown(() => fake.close());
  const sts = stsClient(fake.endpoint, maxAttempts);
  t.teardown(() => sts.destroy());
  return { fake, sts };
}

/** A provider for FAKE_POOL on `client`, with the real clock unless `props` says otherwise. */
export function providerFor(client: CognitoIdentityClient, props: Partial<CredentialsProviderProps> = {}) {
  return new CredentialsProvider({
    identityPoolId: FAKE_POOL,
    region: MOTO_REGION,
    client,
    now: Date.now,
    ...props,
  });
}

/** A fake identity service issuing credentials valid `lifetimeMs` after the injected clock. */
export async function fakeWithClock(t: Test, clock: () => number, lifetimeMs: number) {
  let issued = 0;
  return fakeService(t, (operation): FakeAnswer => {
    if (operation === "GetId") return { status: 200, body: { IdentityId: "us-east-1:fake-identity" } };
    issued++;
    return {
      status: 200,
      body: {
        IdentityId: "us-east-1:fake-identity",
        Credentials: {
          AccessKeyId: `AKID${issued}`,
          SecretKey: "secret",
          SessionToken: "session",
          Expiration: (clock() + lifetimeMs) / 1000, // AWS JSON: epoch seconds
        },
      },
    };
  });
}
