// Microbenchmark of the two things cupbearer adds to every signed request: the SigV4 signature
// (src/aws/signer.ts, beside the AWS SDK's @smithy/signature-v4 on the same requests) and the
// credentials-cache hit (src/aws/credentials.ts). Build, then run:
//   npm run build && node dist/bench/sign.js
// Environment:
//   SIGN_BENCH_MS      milliseconds per round and case (default 300)
//   SIGN_BENCH_ROUNDS  rounds per case; the median is printed (default 7)
//
// Figures are CPU µs per operation (process.cpuUsage, so time the process spends descheduled on
// a busy machine is not counted), the median of the rounds. Synchronous code is timed in a plain
// loop; only what returns a promise is awaited, since an await alone costs a microtask.
//
// Smithy runs twice: with a SHA-256 over node:crypto (what the SDK uses on Node through
// @smithy/hash-node, so a fair comparison) and with the pure-JS @aws-crypto/sha256-js.
// Both signers cache signing keys; "cold" signs with a new secret each time (key derivation).
import { createHash, createHmac } from "node:crypto";
import { Sha256 as JsSha256 } from "@aws-crypto/sha256-js";
import { CognitoIdentityClient } from "@aws-sdk/client-cognito-identity";
import { SignatureV4 } from "@smithy/signature-v4";
import { CredentialsProvider, type CredentialsRequest } from "../src/aws/credentials.js";
import {
  type AwsCredentials,
  createSigner,
  type SignableRequest,
  UNSIGNED_PAYLOAD,
} from "../src/aws/signer.js";
import { BENCH_IDENTITY_POOL_ID, startIdentityService } from "./aws-identity.js";

const ROUND_MS = Number(process.env.SIGN_BENCH_MS ?? 300);
const ROUNDS = Number(process.env.SIGN_BENCH_ROUNDS ?? 7);

/** A SHA-256 / HMAC-SHA-256 constructor over node:crypto with the interface smithy expects. */
class NodeSha256 {
  readonly #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash =
      secret === undefined
        ? createHash("sha256")
        : createHmac("sha256", typeof secret === "string" ? secret : toBuffer(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(typeof data === "string" ? data : toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest());
  }
}

function toBuffer(data: ArrayBuffer | ArrayBufferView): Buffer {
  return ArrayBuffer.isView(data)
    ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    : Buffer.from(data);
}

interface Case {
  name: string;
  service: string;
  s3: boolean;
  request: SignableRequest;
}

// Cognito Identity session tokens run to about a kilobyte, and SigV4 hashes the token with every
// canonical request, so a short stand-in would flatter every signer here.
const credentials: AwsCredentials = {
  accessKeyId: "ASIAEXAMPLEEXAMPLE00",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE/+=".repeat(40),
};
const now = new Date("2026-11-26T12:00:00Z");

const cases: Case[] = [
  {
    // What cupbearer's S3 route signs for a plain GET: no signable client header, no query.
    name: "s3 GET, as the proxy signs it",
    service: "s3",
    s3: true,
    request: {
      method: "GET",
      host: "my-bucket.s3.eu-west-1.amazonaws.com",
      path: "/private/us-east-1%3A0b5c1d2e-1111-4222-8333-444455556666/photos/holiday%20pic.jpg",
      query: "",
      headers: {},
      payloadHash: UNSIGNED_PAYLOAD,
    },
  },
  {
    name: "s3 GET object, headers and query",
    service: "s3",
    s3: true,
    request: {
      method: "GET",
      host: "my-bucket.s3.eu-west-1.amazonaws.com",
      path: "/users/42/photos/2026/holiday%20pic.jpg",
      query: "versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY",
      headers: { accept: "*/*", range: "bytes=0-1023", "user-agent": "cupbearer" },
      payloadHash: UNSIGNED_PAYLOAD,
    },
  },
  {
    name: "dynamodb POST",
    service: "dynamodb",
    s3: false,
    request: {
      method: "POST",
      host: "dynamodb.eu-west-1.amazonaws.com",
      path: "/",
      query: "",
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": "DynamoDB_20120810.GetItem",
        "content-length": "87",
      },
      payloadHash: createHash("sha256")
        .update('{"TableName":"t","Key":{"pk":{"S":"user#42"}}}')
        .digest("hex"),
    },
  },
];

function smithyInput(c: Case) {
  const query: Record<string, string> = {};
  for (const part of c.request.query.split("&").filter(Boolean)) {
    const [k = "", v = ""] = part.split("=");
    query[decodeURIComponent(k)] = decodeURIComponent(v);
  }
  const headers: Record<string, string> = { host: c.request.host };
  for (const [k, v] of Object.entries(c.request.headers))
    headers[k] = typeof v === "string" ? v : v.join(",");
  headers["x-amz-content-sha256"] = c.request.payloadHash; // smithy reads the payload hash from it
  return {
    method: c.request.method,
    protocol: "https:",
    hostname: c.request.host,
    path: c.request.path,
    query,
    headers,
  };
}

const cpuMicros = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? Number.NaN;
}

/**
 * CPU µs per call: a warm-up, then ROUNDS rounds of about ROUND_MS of `batch(1000)` calls, the
 * median. `batch` makes the calls itself, so a synchronous function is timed in a plain loop.
 */
async function measure(batch: (calls: number) => unknown): Promise<number> {
  await batch(5000);
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = process.cpuUsage();
    const deadline = process.hrtime.bigint() + BigInt(ROUND_MS) * 1_000_000n;
    do {
      await batch(1000);
      n += 1000;
    } while (process.hrtime.bigint() < deadline);
    rounds.push(cpuMicros(start) / n);
  }
  return median(rounds);
}

/** {@link measure} of a synchronous function. */
const measureSync = (fn: () => unknown): Promise<number> =>
  measure((calls) => {
    for (let i = 0; i < calls; i++) fn();
  });

/** {@link measure} of an asynchronous function, each call awaited before the next. */
const measureAsync = (fn: () => Promise<unknown>): Promise<number> =>
  measure(async (calls) => {
    for (let i = 0; i < calls; i++) await fn();
  });

async function signing(rows: [string, string, string][]): Promise<void> {
  for (const c of cases) {
    // x-amz-content-sha256 on both sides, so both sign exactly the same canonical request.
    const ours = createSigner({
      service: c.service,
      region: "eu-west-1",
      s3: c.s3,
      contentSha256Header: true,
    });
    const expected = ours.sign(c.request, credentials, now).authorization;
    const smithyNode = new SignatureV4({
      service: c.service,
      region: "eu-west-1",
      credentials,
      sha256: NodeSha256,
      uriEscapePath: !c.s3,
    });
    const smithyJs = new SignatureV4({
      service: c.service,
      region: "eu-west-1",
      credentials,
      sha256: JsSha256,
      uriEscapePath: !c.s3,
    });
    const input = smithyInput(c);
    for (const s of [smithyNode, smithyJs]) {
      const got = (await s.sign(input, { signingDate: now })).headers.authorization;
      if (got !== expected)
        throw new Error(`${c.name}: signers disagree\n  ours:   ${expected}\n  smithy: ${got}`);
    }
    let i = 0;
    const results: [string, number][] = [
      ["cupbearer (warm key cache)", await measureSync(() => ours.sign(c.request, credentials, now))],
      [
        "cupbearer, new Date() per call",
        await measureSync(() => ours.sign(c.request, credentials, new Date())),
      ],
      [
        "cupbearer (cold: new secret each time)",
        await measureSync(() => ours.sign(c.request, { ...credentials, secretAccessKey: `s${i++}` }, now)),
      ],
      [
        "@smithy/signature-v4 + node:crypto",
        await measureAsync(() => smithyNode.sign(input, { signingDate: now })),
      ],
      [
        "@smithy/signature-v4 + @aws-crypto/sha256-js",
        await measureAsync(() => smithyJs.sign(input, { signingDate: now })),
      ],
    ];
    for (const [who, us] of results) rows.push([c.name, who, us.toFixed(2)]);
  }
}

/** The credentials lookup of a signed request whose credentials are cached. */
async function lookups(rows: [string, string, string][]): Promise<void> {
  const service = await startIdentityService();
  const client = new CognitoIdentityClient({
    region: "us-east-1",
    endpoint: service.endpoint,
    maxAttempts: 1,
    credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
  });
  try {
    let hits = 0;
    const provider = new CredentialsProvider({
      identityPoolId: BENCH_IDENTITY_POOL_ID,
      region: "us-east-1",
      client,
      now: Date.now,
      // Counted like the proxy's bound prom-client children would be, so the hook call is in.
      metrics: { onCacheHit: () => void hits++ },
    });
    const req: CredentialsRequest = {
      issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123",
      sub: "0b5c1d2e-1111-4222-8333-444455556666",
      idToken: "header.payload.signature",
      client: "1example23456789abcdefghij",
      roleArn: "arn:aws:iam::123456789012:role/cupbearer-readers",
    };
    const first = await provider.get(req);
    if (!first.ok) throw first.error;
    const awaited = await measureAsync(async () => {
      const result = await provider.get(req);
      if (!result.ok) throw result.error;
    });
    rows.push(["credentials (cached)", "await get()", awaited.toFixed(2)]);
    const lookup = provider.get(req);
    // A build whose get() always returns a promise has no synchronous hit to measure.
    if (lookup instanceof Promise) {
      await lookup;
      rows.push(["credentials (cached)", "get(), hit returned at once", "n/a"]);
    } else {
      const sync = await measureSync(() => {
        const result = provider.get(req);
        if (result instanceof Promise || !result.ok) throw new Error("expected a synchronous hit");
      });
      rows.push(["credentials (cached)", "get(), hit returned at once", sync.toFixed(2)]);
    }
    if (hits === 0) throw new Error("the lookups never hit the cache");
  } finally {
    client.destroy();
    await service.close();
  }
}

async function main(): Promise<void> {
  const rows: [string, string, string][] = [];
  await signing(rows);
  await lookups(rows);
  console.log(`CPU µs per operation, median of ${ROUNDS} rounds of ${ROUND_MS} ms (Node ${process.version})`);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c.padStart(8)}`);
}

await main();
