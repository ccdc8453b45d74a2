// SigV4 microbenchmark: cupbearer's signer (src/aws/signer.ts) against the AWS SDK's
// @smithy/signature-v4 on the same requests. Build, then run:
//   npm run build && node dist/bench/sign.js
// Environment: SIGN_BENCH_MS  milliseconds measured per case (default 1000).
//
// Smithy runs twice: with a SHA-256 over node:crypto (what the SDK uses on Node through
// @smithy/hash-node, so a fair comparison) and with the pure-JS @aws-crypto/sha256-js.
// Both signers cache signing keys; "cold" signs with a new secret each time (key derivation).
import { createHash, createHmac } from "node:crypto";
import { Sha256 as JsSha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import {
  type AwsCredentials,
  createSigner,
  type SignableRequest,
  UNSIGNED_PAYLOAD,
} from "../src/aws/signer.js";

const MEASURE_MS = Number(process.env.SIGN_BENCH_MS ?? 1000);

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

const credentials: AwsCredentials = {
  accessKeyId: "ASIAEXAMPLEEXAMPLE00",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE".repeat(30),
};
const now = new Date("2026-11-26T12:00:00Z");

const cases: Case[] = [
  {
    name: "s3 GET object",
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

async function measure(fn: () => unknown): Promise<number> {
  // Warm-up, then as many iterations as fit in MEASURE_MS, in batches to keep timer overhead low.
  for (let i = 0; i < 2000; i++) await fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(MEASURE_MS) * 1_000_000n;
  let t = start;
  while (t < deadline) {
    for (let i = 0; i < 500; i++) await fn();
    n += 500;
    t = process.hrtime.bigint();
  }
  return Number(t - start) / 1000 / n;
}

async function main(): Promise<void> {
  const rows: [string, string, string][] = [];
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
      ["cupbearer (warm key cache)", await measure(() => ours.sign(c.request, credentials, now))],
      [
        "cupbearer (cold: new secret each time)",
        await measure(() => ours.sign(c.request, { ...credentials, secretAccessKey: `s${i++}` }, now)),
      ],
      [
        "@smithy/signature-v4 + node:crypto",
        await measure(() => smithyNode.sign(input, { signingDate: now })),
      ],
      [
        "@smithy/signature-v4 + @aws-crypto/sha256-js",
        await measure(() => smithyJs.sign(input, { signingDate: now })),
      ],
    ];
    for (const [who, us] of results) rows.push([c.name, who, us.toFixed(2)]);
  }
  console.log(`SigV4 sign, µs per signature (Node ${process.version}, ${MEASURE_MS} ms per case)`);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c.padStart(8)}`);
}

await main();
