/**
 * AWS routes at the edge, against protocol-level stand-ins: a Cognito Identity service that
 * answers what a test needs (throttling, refusals, outages: what no emulator produces on demand)
 * and an upstream that records what it got and checks the signature with the AWS SDK's own
 * signer. The emulator-backed suites (aws-moto, aws-s3rver) prove the same against real checks.
 */

import { request } from "node:http";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import t, { type Test } from "tap";
import { parseConfigText } from "../../src/config/load.js";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { type CountingServer, type FakeAnswer, startFakeIdentityService } from "../support/moto-aws.js";
import { rawRequest } from "../support/raw.js";
import { type RecordedRequest, type RecordingUpstream, startUpstream } from "../support/upstream.js";

const POOL_ID = "us-east-1:00000000-0000-4000-8000-000000000001";
const USER_IDENTITY = "us-east-1:11111111-1111-4111-8111-111111111111";
const GUEST_IDENTITY = "us-east-1:22222222-2222-4222-8222-222222222222";
const ADMIN_ROLE = "arn:aws:iam::123456789012:role/files-admin";
const CREDS = {
  AccessKeyId: "ASIAEDGETESTKEY00001",
  SecretKey: "edge-test-secret-key/0123456789abcdefghij",
  SessionToken: "FwoGZXIvYXdzEdgeTestSessionToken//////////wEaDPlus+Slash/Equals=",
};

/** How the fake identity service behaves for the next calls. */
const identityMode: { answer: "ok" | "throttle" | "refuse" | "fail" } = { answer: "ok" };

function identityAnswer(operation: string, body: Record<string, unknown>): FakeAnswer {
  if (identityMode.answer === "throttle") {
    return { status: 400, body: { __type: "TooManyRequestsException", message: "Rate exceeded" } };
  }
  if (identityMode.answer === "refuse") {
    return { status: 400, body: { __type: "NotAuthorizedException", message: "Invalid login token." } };
  }
  if (identityMode.answer === "fail") return { status: 500, body: { __type: "InternalErrorException" } };
  const guest = body.Logins === undefined;
  const identityId = guest ? GUEST_IDENTITY : USER_IDENTITY;
  if (operation === "GetId") return { status: 200, body: { IdentityId: identityId } };
  return {
    status: 200,
    body: { IdentityId: identityId, Credentials: { ...CREDS, Expiration: Date.now() / 1000 + 3600 } },
  };
}

/** The signature AWS would compute for what the upstream received, by the AWS SDK's signer. */
async function expectedAuthorization(rec: RecordedRequest, service: string): Promise<string> {
  const auth = String(rec.headers.authorization);
  const signed = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(";") ?? [];
  const headers: Record<string, string> = {};
  for (const name of signed) headers[name] = String(rec.headers[name]);
  const url = new URL(rec.url, "http://placeholder");
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const seen = query[k];
    query[k] = seen === undefined ? v : [...(Array.isArray(seen) ? seen : [seen]), v];
  }
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: CREDS.AccessKeyId,
      secretAccessKey: CREDS.SecretKey,
      sessionToken: CREDS.SessionToken,
    },
    region: "us-east-1",
    service,
    sha256: Sha256,
    uriEscapePath: service !== "s3",
    applyChecksum: false,
  });
  const amzDate = String(rec.headers["x-amz-date"]);
  const date = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const out = await signer.sign(
    {
      method: rec.method,
      protocol: "http:",
      hostname: String(rec.headers.host),
      path: url.pathname,
      query,
      headers,
      body: service === "s3" ? undefined : rec.body,
    },
    { signingDate: date },
  );
  return String(out.headers.authorization);
}

interface World {
  app: RunningApp;
  issuer: TestIssuer;
  up: RecordingUpstream;
  identity: CountingServer;
  /** The config, with extra lines for the identity pool (for reloads). */
  yaml: (poolExtra?: string) => string;
}

async function startWorld(t: Test): Promise<World> {
  const issuer = await startIssuer();
  const up = await startUpstream();
  const identity = await startFakeIdentityService(identityAnswer);
  const yaml = (poolExtra = "") => `
limits: { maxHeldBodyBytes: 1048576 }
issuers:
  - { id: test, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }
identityPools:
  - id: main
    identityPoolId: "${POOL_ID}"
    region: us-east-1
    endpoint: "${identity.endpoint}"
    roles: { byGroup: { admin: "${ADMIN_ROLE}" } }
    allowGuests: true${poolExtra}
routes:
  - id: files
    match: { pathPrefix: /files }
    stripPrefix: true
    upstream:
      url: "${up.url}/bucket"
      aws: { service: s3, region: us-east-1, identityPool: main }
      s3: { keyPrefix: "private/{identityId}/" }
    auth: { mode: required, tokenUse: id }
  - id: shared
    match: { pathPrefix: /shared }
    stripPrefix: true
    upstream:
      url: "${up.url}/public-bucket"
      aws: { service: s3, region: us-east-1, identityPool: main }
    auth: { mode: public }
  - id: table
    match: { pathPrefix: /dynamo }
    stripPrefix: true
    upstream:
      url: "${up.url}"
      aws: { service: dynamodb, region: us-east-1, identityPool: main, maxBodyBytes: 2048 }
      dynamodb: { tables: [Orders], operations: [GetItem, PutItem, Query] }
    auth: { mode: required }
  - id: virtual
    match: { pathPrefix: /v }
    stripPrefix: true
    upstream:
      url: "${up.url}"
      aws: { service: s3, region: us-east-1, identityPool: main }
      s3: { keyPrefix: "private/{identityId}/", addressing: virtual }
    auth: { mode: optional, tokenUse: id }
  - id: json
    match: { pathPrefix: /json }
    upstream:
      url: "${up.url}"
      aws: { service: execute-api, region: us-east-1, identityPool: main, maxBodyBytes: 1048576 }
    auth: { mode: required, tokenUse: id }
  - id: api
    match: { pathPrefix: /api }
    upstream: "${up.url}"
    auth: { mode: required }
`;
  const app = await startApp(yaml());
  await waitReady(app.adminUrl);
  t.teardown(async () => {
    await app.stop();
    await Promise.all([issuer.close(), up.close(), identity.close()]);
  });
  return { app, issuer, up, identity, yaml };
}

const idToken = (w: World, claims: Record<string, unknown> = {}) =>
  w.issuer.token({ token_use: "id", aud: "test-client", sub: "user-1", ...claims });

t.test("AWS routes", async (t) => {
  const w = await startWorld(t);
  const bearer = (claims?: Record<string, unknown>) => ({ authorization: `Bearer ${idToken(w, claims)}` });
  t.beforeEach(() => {
    identityMode.answer = "ok";
    w.up.requests.length = 0;
    w.up.handler = undefined;
  });

  t.test("an S3 GET inside the prefix is signed with the caller's credentials", async (t) => {
    const key = `private/${USER_IDENTITY}/notes/a b.txt`;
    const res = await fetch(`${w.app.url}/files/${key.split("/").map(encodeURIComponent).join("/")}`, {
      headers: {
        ...bearer(),
        cookie: "session=abc",
        "x-amz-date": "20000101T000000Z",
        "x-amz-security-token": "client-chosen",
        "x-auth-request-user": "spoofed",
        "x-amz-meta-colour": "blue",
      },
    });
    t.equal(res.status, 200);
    const rec = w.up.requests[0] as RecordedRequest;
    t.equal(rec.url, "/bucket/private/us-east-1%3A11111111-1111-4111-8111-111111111111/notes/a%20b.txt");
    t.match(
      String(rec.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=ASIAEDGETESTKEY00001\/\d{8}\/us-east-1\/s3\/aws4_request, /,
    );
    t.equal(rec.headers["x-amz-security-token"], CREDS.SessionToken, "the identity pool's session token");
    t.equal(rec.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    t.not(rec.headers["x-amz-date"], "20000101T000000Z", "the client's date is replaced");
    t.equal(rec.headers["x-amz-meta-colour"], "blue", "S3 request headers pass, signed");
    t.match(
      String(rec.headers.authorization),
      /SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-colour;x-amz-security-token,/,
    );
    t.equal(rec.headers.cookie, undefined, "no cookie reaches AWS");
    t.equal(rec.headers["x-auth-request-user"], undefined, "no identity header reaches AWS");
    t.equal(rec.headers.authorization?.includes("Bearer"), false, "the user's token never reaches AWS");
    t.equal(
      String(rec.headers.authorization),
      await expectedAuthorization(rec, "s3"),
      "the AWS SDK's signer agrees",
    );
  });

  t.test("a key outside the caller's prefix is refused and never signed or sent", async (t) => {
    for (const path of [
      "/files/private/us-east-1%3A99999999-9999-4999-8999-999999999999/x",
      "/files/private/other/x",
      "/files/",
      "/files/public/x",
    ]) {
      const res = await fetch(`${w.app.url}${path}`, { headers: bearer() });
      t.equal(res.status, 403, path);
      t.match(await res.text(), /<Code>AccessDenied<\/Code>/, "in S3's own dialect");
    }
    const copy = await fetch(`${w.app.url}/files/private/${USER_IDENTITY}/copy`, {
      method: "PUT",
      headers: { ...bearer(), "x-amz-copy-source": "bucket/private/someone-else/secret.txt" },
    });
    t.equal(copy.status, 403, "a copy from outside the prefix is refused too");
    t.equal(w.up.requests.length, 0, "the upstream saw none of them");
  });

  t.test("listing is allowed only with a prefix inside the caller's", async (t) => {
    const inside = await fetch(
      `${w.app.url}/files?list-type=2&prefix=${encodeURIComponent(`private/${USER_IDENTITY}/`)}`,
      {
        headers: bearer(),
      },
    );
    t.equal(inside.status, 200);
    const outside = await fetch(`${w.app.url}/files?list-type=2&prefix=private/`, { headers: bearer() });
    t.equal(outside.status, 403);
    t.equal(w.up.requests.length, 1);
  });

  t.test("virtual-hosted addressing: the whole path is the key", async (t) => {
    const inside = await fetch(`${w.app.url}/v/private/${USER_IDENTITY}/k`, { headers: bearer() });
    t.equal(inside.status, 200);
    t.equal(w.up.requests[0]?.url, "/private/us-east-1%3A11111111-1111-4111-8111-111111111111/k");
    const list = await fetch(`${w.app.url}/v?list-type=2&prefix=private/${USER_IDENTITY}/`, {
      headers: bearer(),
    });
    t.equal(list.status, 200);
    t.match(w.up.requests[1]?.url, /^\/\?list-type=2&prefix=/);
    const outside = await fetch(`${w.app.url}/v/private/other/k`, { headers: bearer() });
    t.equal(outside.status, 403);
    const guest = await fetch(`${w.app.url}/v/private/${GUEST_IDENTITY}/k`);
    t.equal(guest.status, 403, "guests share one identity, so they get no per-caller prefix");
    t.equal(w.up.requests.length, 2);
  });

  t.test("WebSocket upgrades are not proxied to AWS", async (t) => {
    const res = await rawRequest(
      w.app.url,
      `GET /files/private/${USER_IDENTITY}/ws HTTP/1.1\nHost: x\nConnection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nAuthorization: Bearer ${idToken(w)}\n`,
    );
    t.equal(res.status, 400);
    t.equal(w.up.requests.length, 0);
  });

  t.test("a reload keeps an unchanged pool's caches; a changed pool starts afresh", async (t) => {
    const reload = (poolExtra?: string) =>
      w.app.app.reload(async () =>
        parseConfigText(
          `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\n${w.yaml(poolExtra)}`,
        ),
      );
    const get = async () =>
      (
        await fetch(`${w.app.url}/files/private/${USER_IDENTITY}/r`, {
          headers: bearer({ sub: "reload-user" }),
        })
      ).status;
    w.identity.reset();
    t.equal(await get(), 200);
    const exchanged = w.identity.requests.length;
    t.equal(exchanged, 2, "GetId and GetCredentialsForIdentity");
    t.equal(await reload(), true);
    t.equal(await get(), 200);
    t.equal(w.identity.requests.length, exchanged, "same pool settings: cached credentials kept");
    t.equal(await reload("\n    timeoutMs: 4000"), true);
    t.equal(await get(), 200);
    t.equal(w.identity.requests.length, exchanged + 2, "changed pool: a fresh exchange");
    t.equal(await reload(), true, "back to the original settings");
  });

  t.test("an access token is refused on an AWS route even where the route takes any token", async (t) => {
    const res = await fetch(`${w.app.url}/dynamo`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${w.issuer.token({ sub: "access-user" })}`,
        "x-amz-target": "DynamoDB_20120810.GetItem",
      },
      body: JSON.stringify({ TableName: "Orders", Key: {} }),
    });
    t.equal(res.status, 403, "a rule of the route, like tokenUse: 403");
    t.equal(w.up.requests.length, 0);
  });

  t.test(
    "bodies held at once stay within limits.maxHeldBodyBytes: past it, 503 and Retry-After",
    async (t) => {
      const half = 600 * 1024;
      // The first upload sends 600 KiB of its declared 1 MiB and waits: its bytes are held.
      const first = request(`${w.app.url}/json/x`, {
        method: "POST",
        headers: { ...bearer(), "content-length": String(1024 * 1024) },
      });
      const firstAnswer = new Promise<number>((resolve) =>
        first.on("response", (r) => {
          // Read its answer (the upstream echoes 1 MiB): unread, it stays in flight and
          // app.stop() waits out the whole drain deadline.
          r.resume();
          resolve(r.statusCode ?? 0);
        }),
      );
      first.on("error", () => {});
      first.write(Buffer.alloc(half, 1));
      await new Promise((r) => setTimeout(r, 300));
      const second = await fetch(`${w.app.url}/json/y`, {
        method: "POST",
        headers: bearer(),
        body: Buffer.alloc(half, 2),
      });
      t.equal(second.status, 503, "the second would take the total past the budget");
      t.equal(second.headers.get("retry-after"), "1");
      first.end(Buffer.alloc(1024 * 1024 - half, 1));
      t.equal(await firstAnswer, 200, "the first completes");
      const third = await fetch(`${w.app.url}/json/z`, {
        method: "POST",
        headers: bearer(),
        body: Buffer.alloc(half, 3),
      });
      t.equal(third.status, 200, "the budget was given back");
      t.equal(w.up.requests.length, 2);
    },
  );

  t.test("client signing schemes that would fight cupbearer's are refused with 400", async (t) => {
    const base = `${w.app.url}/files/private/${USER_IDENTITY}/k`;
    const chunked = await fetch(base, {
      method: "PUT",
      headers: { ...bearer(), "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" },
      body: "5;chunk-signature=abc\r\nhello\r\n0;chunk-signature=def\r\n\r\n",
    });
    t.equal(chunked.status, 400);
    const presigned = await fetch(`${base}?X-Amz-Signature=abc&X-Amz-Credential=x`, { headers: bearer() });
    t.equal(presigned.status, 400);
    t.equal(w.up.requests.length, 0);
  });

  t.test("a public route signs as the pool's guest", async (t) => {
    w.identity.reset();
    const res = await fetch(`${w.app.url}/shared/logo.png`);
    t.equal(res.status, 200);
    const getId = w.identity.requests.find((r) => r.operation === "GetId");
    t.ok(getId, "a guest identity was asked for");
    t.equal(getId?.body.Logins, undefined, "without a login");
    t.match(String(w.up.requests[0]?.headers.authorization), /Credential=ASIAEDGETESTKEY00001\//);
  });

  t.test("the first group with a role picks the role", async (t) => {
    w.identity.reset();
    const res = await fetch(`${w.app.url}/files/private/${USER_IDENTITY}/a`, {
      headers: bearer({ sub: "admin-1", "cognito:groups": ["staff", "admin"] }),
    });
    t.equal(res.status, 200);
    const call = w.identity.requests.find((r) => r.operation === "GetCredentialsForIdentity");
    t.equal(call?.body.CustomRoleArn, ADMIN_ROLE);
  });

  t.test("DynamoDB: the JSON body is hashed and signed; allow-lists apply before signing", async (t) => {
    const call = (target: string, body: unknown) =>
      fetch(`${w.app.url}/dynamo`, {
        method: "POST",
        headers: { ...bearer(), "content-type": "application/x-amz-json-1.0", "x-amz-target": target },
        body: JSON.stringify(body),
      });
    const ok = await call("DynamoDB_20120810.GetItem", { TableName: "Orders", Key: { pk: { S: "1" } } });
    t.equal(ok.status, 200);
    const rec = w.up.requests[0] as RecordedRequest;
    t.equal(rec.url, "/");
    t.equal(rec.body, JSON.stringify({ TableName: "Orders", Key: { pk: { S: "1" } } }));
    t.equal(
      String(rec.headers.authorization),
      await expectedAuthorization(rec, "dynamodb"),
      "the AWS SDK's signer agrees",
    );
    t.match(
      String(rec.headers.authorization),
      /SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,/,
    );

    // A key given twice: the upstream gets exactly what was checked, never the other spelling.
    const twice = await fetch(`${w.app.url}/dynamo`, {
      method: "POST",
      headers: { ...bearer(), "x-amz-target": "DynamoDB_20120810.GetItem" },
      body: '{"TableName":"Users","Key":{},"TableName":"Orders"}',
    });
    t.equal(twice.status, 200);
    t.equal(w.up.requests[1]?.body, '{"TableName":"Orders","Key":{}}');
    w.up.requests.length = 1;
    const otherTable = await call("DynamoDB_20120810.GetItem", { TableName: "Users", Key: {} });
    t.equal(otherTable.status, 403);
    const otherOp = await call("DynamoDB_20120810.DeleteTable", { TableName: "Orders" });
    t.equal(otherOp.status, 403);
    const notJson = await fetch(`${w.app.url}/dynamo`, {
      method: "POST",
      headers: { ...bearer(), "x-amz-target": "DynamoDB_20120810.GetItem" },
      body: "{not json",
    });
    t.equal(notJson.status, 400);
    const big = await call("DynamoDB_20120810.PutItem", {
      TableName: "Orders",
      Item: { pk: { S: "x".repeat(4096) } },
    });
    t.equal(big.status, 413, "past maxBodyBytes");
    t.equal(w.up.requests.length, 1, "only the allowed call reached the upstream");
  });

  t.test("AWS error bodies pass through without the signature's echo", async (t) => {
    w.up.handler = (rec, res) => {
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><AWSAccessKeyId>${rec.headers["x-amz-security-token"] ? CREDS.AccessKeyId : ""}</AWSAccessKeyId><CanonicalRequest>GET\n/\nx-amz-security-token:${String(rec.headers["x-amz-security-token"])}</CanonicalRequest><Note>token ${String(rec.headers["x-amz-security-token"])}</Note></Error>`;
      res.writeHead(403, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    const res = await fetch(`${w.app.url}/files/private/${USER_IDENTITY}/k`, { headers: bearer() });
    t.equal(res.status, 403);
    const text = await res.text();
    t.match(text, /<Code>SignatureDoesNotMatch<\/Code>/);
    t.notOk(text.includes(CREDS.SessionToken), "no session token");
    t.notOk(text.includes(CREDS.AccessKeyId), "no access key id");
    t.notMatch(text, /CanonicalRequest/);
    t.equal(
      res.headers.get("content-length"),
      String(Buffer.byteLength(text)),
      "the length fits the new body",
    );
  });

  t.test(
    "identity pool failures: 401 for a refused login, 503 with Retry-After when throttled",
    async (t) => {
      identityMode.answer = "refuse";
      const refused = await fetch(`${w.app.url}/files/private/${USER_IDENTITY}/k`, {
        headers: bearer({ sub: "refused-user" }),
      });
      t.equal(refused.status, 401);
      t.match(await refused.text(), /<Code>InvalidToken<\/Code>/, "in S3's own dialect");

      identityMode.answer = "throttle";
      const throttled = await fetch(`${w.app.url}/files/private/${USER_IDENTITY}/k`, {
        headers: bearer({ sub: "throttled-user" }),
      });
      t.equal(throttled.status, 503);
      t.match(throttled.headers.get("retry-after"), /^\d+$/);

      identityMode.answer = "fail";
      const down = await fetch(`${w.app.url}/dynamo`, {
        method: "POST",
        headers: { ...bearer({ sub: "another-user" }), "x-amz-target": "DynamoDB_20120810.GetItem" },
        body: "{}",
      });
      t.equal(down.status, 503);
      const api = await fetch(`${w.app.url}/api/orders`, {
        headers: { authorization: `Bearer ${w.issuer.token()}` },
      });
      t.equal(api.status, 200, "API routes do not depend on the identity pool");
      t.equal(w.up.requests.length, 1, "only the API request reached the upstream");
    },
  );

  t.test(
    "metrics count exchanges, cache use and signed requests; logs never hold a credential",
    async (t) => {
      const text = await (await fetch(`${w.app.adminUrl}/metrics`)).text();
      t.match(text, /cupbearer_signed_requests_total\{route="files",service="s3"\} \d+/);
      t.match(text, /cupbearer_signed_requests_total\{route="table",service="dynamodb"\} \d+/);
      t.match(text, /cupbearer_credential_exchanges_total\{pool="main",flow="enhanced",result="ok"\} \d+/);
      t.match(
        text,
        /cupbearer_credential_exchanges_total\{pool="main",flow="enhanced",result="throttled"\} 1/,
      );
      t.match(text, /cupbearer_credential_cache_hits_total\{pool="main",cache="credentials"\} [1-9]/);
      t.match(
        text,
        /cupbearer_credential_exchange_duration_seconds_count\{pool="main",flow="enhanced"\} \d+/,
      );
      const logs = w.app.logText();
      t.notOk(logs.includes(CREDS.SessionToken), "no session token in logs");
      t.notOk(logs.includes(CREDS.SecretKey), "no secret in logs");
    },
  );
});
