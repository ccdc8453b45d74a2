/**
 * The AWS clients people already have, set up as the README's "SDK mode" says (endpoint =
 * cupbearer, path-style, dummy keys, the ID token as the session token), over HTTPS through
 * cupbearer's own TLS listener with a test CA: the JavaScript SDK v3 (with lib-storage and
 * lib-dynamodb), boto3 and the AWS CLI v1 from the machine's Python, in front of moto with IAM
 * auth and of s3rver. Also hand-made chunk-signed uploads, whole, cut and corrupted.
 *
 * moto's quirks shape two choices: its keys use `{sub}` (moto decodes `%3A` before checking the
 * signature), and listing with a prefix is tried against s3rver (moto refuses a correctly signed
 * query holding a "/"). s3rver refuses STREAMING-UNSIGNED-PAYLOAD-TRAILER, so its clients run
 * with `request_checksum_calculation = when_required`.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { Agent as HttpsAgent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { crc32 } from "node:zlib";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { Upload } from "@aws-sdk/lib-storage";
import t, { type Test } from "tap";
import { Agent, request } from "undici";
import { seedPool } from "../../demo/cognito-emulator.js";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { decodeJwt } from "../support/emulators.js";
import { sharedCognitoLocal, sharedMotoWorld, sharedS3rver } from "../support/shared.js";
import { makeTestPki, type TestPki } from "../support/tls.js";

t.setTimeout(300_000);

const PASSWORD = "Passw0rd!";
const BIG_BYTES = 20 * 1024 * 1024;
const HERE = import.meta.dirname;

const [cognito, world, s3rver] = await Promise.all([
  sharedCognitoLocal(t),
  sharedMotoWorld(t),
  sharedS3rver(t),
]);

/** Skips loudly when a tool is missing, fails under CI=true (CI must run everything). */
function missing(t: Test, what: string, why: string): void {
  const banner = `SKIPPED: ${what} not available (${why})`;
  if (process.env.CI === "true") t.fail(`${what} is required under CI=true: ${why}`);
  else {
    t.comment(`${"!".repeat(80)}\n${banner}\n${"!".repeat(80)}`);
    t.pass(what, { skip: banner });
  }
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 127, stdout, stderr }),
    );
  });
}

interface Setup {
  app: RunningApp;
  pki: TestPki;
  token: string;
  sub: string;
  /** The caller's identity id, as cupbearer tells it. */
  identityId: string;
  fetchTls: Agent;
}

let setup: Setup | undefined;

t.before(async () => {
  if (cognito === undefined || world === undefined) return;
  let pki: TestPki;
  try {
    pki = makeTestPki();
  } catch (err) {
    missing(t, "openssl", (err as Error).message);
    return;
  }
  t.teardown(() => pki.remove());
  const pool = await seedPool(cognito.endpoint, {
    poolName: "cupbearer-clients",
    users: [{ username: "carol", password: PASSWORD }],
  });
  const token = (await pool.signIn("carol", PASSWORD)).idToken;
  const sub = String(decodeJwt(token).payload.sub);
  const sdk = "{ tokenUse: id, token: { header: x-amz-security-token } }";
  const s3rverRoute =
    s3rver === undefined
      ? ""
      : `
  - id: s3rver
    match: { pathPrefix: /${s3rver.bucket} }
    upstream: { url: "${s3rver.endpoint}", aws: { service: s3, region: us-east-1, identityPool: main }, s3: { keyPrefix: "private/{identityId}/" } }
    auth: ${sdk}`;
  const app = await startApp(
    `
issuers:
  - { id: local, issuer: "${pool.issuer}", jwksUri: "${pool.jwksUri}", clientIds: ["${pool.clientId}"] }
identityPools:
  - { id: main, identityPoolId: "${world.identityPoolId}", region: us-east-1, endpoint: "${world.endpoint}" }
routes:
  - id: files
    match: { pathPrefix: /${world.bucket} }
    upstream: { url: "${world.endpoint}", aws: { service: s3, region: us-east-1, identityPool: main }, s3: { keyPrefix: "private/{sub}/" } }
    auth: ${sdk}${s3rverRoute}
  - id: table
    match: { path: /, methods: [POST] }
    upstream:
      url: "${world.endpoint}"
      aws: { service: dynamodb, region: us-east-1, identityPool: main }
      dynamodb: { tables: ["${world.table}"] }
    auth: ${sdk}
`,
    {},
    `tls: { certFile: "${pki.certFile}", keyFile: "${pki.keyFile}" }`,
  );
  t.teardown(async () => {
    if (process.env.DEBUG_CLIENTS)
      console.error(app.logs.filter((l) => l.msg !== "request" || l.status !== 200));
    await app.stop();
  });
  await waitReady(app.adminUrl);
  const fetchTls = new Agent({ connect: { ca: pki.ca } });
  t.teardown(() => fetchTls.close());
  // Any answer after the caller's credentials are known says who it is, a refusal too.
  const probe = await request(`${app.url}/${world.bucket}/private/not-mine/x`, {
    headers: { "x-amz-security-token": token },
    dispatcher: fetchTls,
  });
  await probe.body.text();
  const identityId = String(probe.headers["x-cupbearer-identity-id"]);
  setup = { app, pki, token, sub, identityId, fetchTls };
});

function needSetup(t: Test): Setup | undefined {
  if (setup === undefined) t.pass("emulators or openssl missing", { skip: "see the SKIPPED banner" });
  return setup;
}

function jsClients(s: Setup) {
  const common = {
    region: "us-east-1",
    endpoint: s.app.url,
    credentials: async () => ({
      accessKeyId: "cupbearer",
      secretAccessKey: "cupbearer",
      sessionToken: s.token,
    }),
    requestHandler: { httpsAgent: new HttpsAgent({ ca: s.pki.ca }) },
    maxAttempts: 1,
  };
  const s3 = new S3Client({ ...common, forcePathStyle: true });
  const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient(common));
  return { s3, dynamodb };
}

t.test("the caller learns its identity id from every answer", async (t) => {
  const s = needSetup(t);
  if (s === undefined) return;
  t.match(s.identityId, /^us-east-1:[0-9a-f-]{36}$/);
});

t.test("refusals speak S3's XML on S3 routes and DynamoDB's JSON on DynamoDB routes", async (t) => {
  const s = needSetup(t);
  if (s === undefined || world === undefined) return;
  const outside = await request(`${s.app.url}/${world.bucket}/private/not-mine/x`, {
    headers: { "x-amz-security-token": s.token },
    dispatcher: s.fetchTls,
  });
  t.equal(outside.statusCode, 403);
  t.equal(outside.headers["content-type"], "application/xml");
  t.match(await outside.body.text(), /<Error><Code>AccessDenied<\/Code><Message>[^<]+<\/Message><RequestId>/);
  const port = new URL(s.app.url).port;
  // The Host names a bucket, which the test certificate does not: only the CA is checked here.
  const anyName = new Agent({ connect: { ca: s.pki.ca, checkServerIdentity: () => undefined } });
  t.teardown(() => anyName.close());
  const virtual = await request(`${s.app.url}/private/${s.sub}/x`, {
    headers: { host: `${world.bucket}.localhost:${port}`, "x-amz-security-token": s.token },
    dispatcher: anyName,
  });
  t.equal(virtual.statusCode, 400, "a virtual-hosted request for a path-style route's bucket");
  t.match(
    await virtual.body.text(),
    /<Code>InvalidRequest<\/Code><Message>Name the bucket in the path \(path-style addressing\)\.<\/Message>/,
  );
  const elsewhere = await request(`${s.app.url}/private/x`, {
    headers: { host: `other-bucket.localhost:${port}`, "x-amz-security-token": s.token },
    dispatcher: anyName,
  });
  t.equal(elsewhere.statusCode, 404, "a bucket no route serves: no route");
  await elsewhere.body.dump();
  const noToken = await request(`${s.app.url}/`, {
    method: "POST",
    headers: { "x-amz-target": "DynamoDB_20120810.ListTables", "content-type": "application/x-amz-json-1.0" },
    body: "{}",
    dispatcher: s.fetchTls,
  });
  t.equal(noToken.statusCode, 401);
  t.strictSame(await noToken.body.json(), {
    __type: "com.amazonaws.dynamodb.v20120810#MissingAuthenticationTokenException",
    message: "A bearer token is required.",
  });
});

t.test("JavaScript SDK v3 with default settings", async (t) => {
  const s = needSetup(t);
  if (s === undefined || world === undefined) return;
  const { s3, dynamodb } = jsClients(s);
  const own = `private/${s.sub}/js`;
  const small = Buffer.from("hello from a Readable");
  const put = await s3.send(
    new PutObjectCommand({
      Bucket: world.bucket,
      Key: `${own}/readable.txt`,
      Body: Readable.from([small]),
      ContentLength: small.length,
    }),
  );
  t.equal(put.$metadata.httpStatusCode, 200);
  const got = await s3.send(new GetObjectCommand({ Bucket: world.bucket, Key: `${own}/readable.txt` }));
  t.equal(await got.Body?.transformToString(), small.toString());

  const big = randomBytes(BIG_BYTES);
  const upload = new Upload({
    client: s3,
    params: {
      Bucket: world.bucket,
      Key: `${own}/big.bin`,
      Body: Readable.from([big.subarray(0, BIG_BYTES / 2), big.subarray(BIG_BYTES / 2)]),
    },
  });
  await upload.done();
  const back = await s3.send(new GetObjectCommand({ Bucket: world.bucket, Key: `${own}/big.bin` }));
  t.ok(Buffer.from((await back.Body?.transformToByteArray()) ?? []).equals(big), "20 MiB back byte for byte");

  const denied = await s3
    .send(new PutObjectCommand({ Bucket: world.bucket, Key: "private/someone-else/x", Body: "x" }))
    .catch((err: unknown) => err);
  t.ok(denied instanceof S3ServiceException);
  t.equal((denied as S3ServiceException).name, "AccessDenied");

  await dynamodb.send(new PutCommand({ TableName: world.table, Item: { pk: `js-${s.sub}`, note: "grüße" } }));
  const item = await dynamodb.send(new GetCommand({ TableName: world.table, Key: { pk: `js-${s.sub}` } }));
  t.strictSame(item.Item, { pk: `js-${s.sub}`, note: "grüße" });
  const forbidden = await dynamodb
    .send(new GetCommand({ TableName: world.forbiddenTable, Key: { pk: "1" } }))
    .catch((err: unknown) => err as Error);
  t.equal((forbidden as Error).name, "AccessDeniedException");
});

/** A chunk-signed body (dummy chunk signatures, as a client with dummy keys makes them). */
function chunkSigned(data: Buffer, chunk: number, trailer: boolean): Buffer {
  const sig = () => randomBytes(32).toString("hex");
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunk) {
    const piece = data.subarray(at, at + chunk);
    parts.push(
      Buffer.from(`${piece.length.toString(16)};chunk-signature=${sig()}\r\n`),
      piece,
      Buffer.from("\r\n"),
    );
  }
  parts.push(Buffer.from(`0;chunk-signature=${sig()}\r\n`));
  if (trailer) {
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc32(data));
    parts.push(
      Buffer.from(
        `x-amz-checksum-crc32:${sum.toString("base64")}\r\nx-amz-trailer-signature:${sig()}\r\n\r\n`,
      ),
    );
  } else parts.push(Buffer.from("\r\n"));
  return Buffer.concat(parts);
}

t.test("chunk-signed uploads are de-chunked; cut or corrupted ones store nothing", async (t) => {
  const s = needSetup(t);
  if (s === undefined || world === undefined) return;
  const { s3 } = jsClients(s);
  const own = `private/${s.sub}/chunks`;
  const data = randomBytes(200_000);
  const headers = (body: Buffer, trailer: boolean) => ({
    "x-amz-security-token": s.token,
    authorization:
      "AWS4-HMAC-SHA256 Credential=cupbearer/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
    "x-amz-content-sha256": trailer
      ? "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
      : "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": String(data.length),
    ...(trailer && { "x-amz-trailer": "x-amz-checksum-crc32" }),
    "content-length": String(body.length),
  });
  for (const trailer of [false, true]) {
    const body = chunkSigned(data, 65_536 - 17, trailer);
    const key = `${own}/whole-${trailer}.bin`;
    const put = await request(`${s.app.url}/${world.bucket}/${key}`, {
      method: "PUT",
      headers: headers(body, trailer),
      body,
      dispatcher: s.fetchTls,
    });
    t.equal(put.statusCode, 200, await put.body.text());
    const back = await s3.send(new GetObjectCommand({ Bucket: world.bucket, Key: key }));
    t.ok(
      Buffer.from((await back.Body?.transformToByteArray()) ?? []).equals(data),
      `trailer ${trailer}: stored as sent`,
    );
  }

  const absent = async (key: string) =>
    s3.send(new HeadObjectCommand({ Bucket: world.bucket, Key: key })).then(
      () => false,
      (err: Error) => err.name === "NotFound",
    );

  const body = chunkSigned(data, 65_536, true);
  const corrupted = Buffer.from(body);
  corrupted.write("zz", 65_536 + 100); // inside the second chunk's header line
  const bad = await request(`${s.app.url}/${world.bucket}/${own}/corrupted.bin`, {
    method: "PUT",
    headers: headers(corrupted, true),
    body: corrupted,
    dispatcher: s.fetchTls,
  }).catch((err: Error) => err);
  if (!(bad instanceof Error)) {
    t.equal(bad.statusCode, 400);
    t.match(await bad.body.text(), /<Code>InvalidRequest<\/Code>/);
  }
  t.ok(await absent(`${own}/corrupted.bin`), "a corrupted stream stored nothing");

  // Cut: the client sends half its body and goes away.
  const cut = new AbortController();
  const half = new Readable({ read() {} });
  const pending = request(`${s.app.url}/${world.bucket}/${own}/cut.bin`, {
    method: "PUT",
    headers: headers(body, true),
    body: half,
    signal: cut.signal,
    dispatcher: s.fetchTls,
  }).catch((err: Error) => err);
  half.push(body.subarray(0, body.length / 2));
  await new Promise((r) => setTimeout(r, 200));
  cut.abort();
  await pending;
  await t.resolves(async () => {
    // The upstream's abandoned request ends once cupbearer notices the client left.
    for (let i = 0; i < 50; i++) {
      if (await absent(`${own}/cut.bin`)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("cut.bin exists");
  });

  // A part of a multipart upload, corrupted: the upload has no part.
  const created = await s3.send(
    new CreateMultipartUploadCommand({ Bucket: world.bucket, Key: `${own}/multi.bin` }),
  );
  const uploadId = String(created.UploadId);
  const part = await request(
    `${s.app.url}/${world.bucket}/${own}/multi.bin?partNumber=1&uploadId=${encodeURIComponent(uploadId)}`,
    { method: "PUT", headers: headers(corrupted, true), body: corrupted, dispatcher: s.fetchTls },
  ).catch((err: Error) => err);
  if (!(part instanceof Error)) await part.body.text();
  const parts = await s3.send(
    new ListPartsCommand({ Bucket: world.bucket, Key: `${own}/multi.bin`, UploadId: uploadId }),
  );
  t.equal(parts.Parts?.length ?? 0, 0, "no part stored");
});

const PYTHON = process.env.PYTHON ?? "python3";

t.test("boto3 (the machine's Python)", async (t) => {
  const s = needSetup(t);
  if (s === undefined || world === undefined) return;
  const probe = await run(PYTHON, ["-c", "import boto3"], {});
  if (probe.code !== 0) return missing(t, "boto3", probe.stderr.trim() || "python3 not found");
  const env = {
    AWS_CA_BUNDLE: s.pki.caFile,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    CUPBEARER_URL: s.app.url,
    CUPBEARER_TOKEN: s.token,
    CUPBEARER_TABLE: world.table,
    CUPBEARER_FORBIDDEN_TABLE: world.forbiddenTable,
    CUPBEARER_ECHO_KEY: world.credentials.accessKeyId,
    CUPBEARER_PK: `boto3-${s.sub}`,
  };
  const result = await run(PYTHON, [join(HERE, "clients/boto3_client.py")], {
    ...env,
    CUPBEARER_MODE: "moto",
    CUPBEARER_BUCKET: world.bucket,
    CUPBEARER_PREFIX: `private/${s.sub}/`,
  });
  t.equal(result.code, 0, result.stderr);
  const steps = Object.fromEntries(
    result.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { step: string })
      .map((l) => [l.step, l]),
  );
  t.match(steps.put_object, { status: 200, identity: s.identityId });
  t.match(steps.upload_download, { same: true, size: BIG_BYTES });
  t.match(steps.head, { length: 16 });
  t.match(steps.copy, { body: "hello from boto3" });
  t.match(steps.delete, { code: "404" });
  t.match(steps.outside, { code: "AccessDenied" });
  t.match(steps.get_item, { item: { pk: { S: `boto3-${s.sub}` }, note: { S: "from boto3" } } });
  t.match(steps.query, { count: 1 });
  t.match(steps.forbidden_table, { code: "AccessDeniedException" });
  const echo = steps.echo as { code: string | null; message: string; crc32: string | null } | undefined;
  t.comment(`the service's own error, as boto3 saw it: ${JSON.stringify(echo)}`);
  t.equal(echo?.code, "ValidationException", "AWS's own error surfaced, no checksum error");
  t.match(echo?.message, "[redacted]", "the quoted access key id was scrubbed");
  t.notMatch(echo?.message ?? "", world.credentials.accessKeyId);
  t.notOk(echo?.crc32, "the rewritten body lost the service's checksum");

  if (s3rver === undefined) return;
  const other = await run(PYTHON, [join(HERE, "clients/boto3_client.py")], {
    ...env,
    CUPBEARER_MODE: "s3rver",
    CUPBEARER_BUCKET: s3rver.bucket,
    CUPBEARER_PREFIX: `private/${s.identityId}/`,
  });
  t.equal(other.code, 0, other.stderr);
  t.match(other.stdout, `"keys": ["private/${s.identityId}/boto3/hello.txt"]`, "listed with a prefix");
  t.match(other.stdout, '"body": "hello from boto3"');
});

t.test("the AWS CLI v1 with the documented profile", async (t) => {
  const s = needSetup(t);
  if (s === undefined || world === undefined) return;
  const probe = await run("aws", ["--version"], {});
  if (probe.code !== 0) return missing(t, "the AWS CLI", probe.stderr.trim() || "aws not found");
  const dir = mkdtempSync(join(tmpdir(), "cupbearer-cli-"));
  const credentials = join(dir, "credentials.json");
  writeFileSync(
    credentials,
    JSON.stringify({
      Version: 1,
      AccessKeyId: "cupbearer",
      SecretAccessKey: "cupbearer",
      SessionToken: s.token,
    }),
  );
  writeFileSync(
    join(dir, "config"),
    `[profile cupbearer]
region = us-east-1
credential_process = cat ${credentials}
s3 =
    addressing_style = path
[profile cupbearer-s3rver]
region = us-east-1
credential_process = cat ${credentials}
request_checksum_calculation = when_required
s3 =
    addressing_style = path
`,
  );
  const env = {
    AWS_CONFIG_FILE: join(dir, "config"),
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_CA_BUNDLE: s.pki.caFile,
  };
  const aws = (profile: string, ...args: string[]) =>
    run("aws", ["--profile", profile, "--endpoint-url", s.app.url, ...args], env);
  const file = join(dir, "up.txt");
  writeFileSync(file, "from the AWS CLI");
  const key = `s3://${world.bucket}/private/${s.sub}/cli/up.txt`;
  const up = await aws("cupbearer", "s3", "cp", file, key);
  t.equal(up.code, 0, up.stderr);
  const down = await aws("cupbearer", "s3", "cp", key, "-");
  t.equal(down.code, 0, down.stderr);
  t.equal(down.stdout, "from the AWS CLI");
  const item = await aws(
    "cupbearer",
    "dynamodb",
    "get-item",
    "--table-name",
    world.table,
    "--key",
    JSON.stringify({ pk: { S: `js-${s.sub}` } }),
  );
  t.equal(item.code, 0, item.stderr);
  t.match(item.stdout, "grüße");
  const denied = await aws("cupbearer", "s3", "cp", file, `s3://${world.bucket}/private/someone-else/x`);
  t.not(denied.code, 0);
  t.match(denied.stderr, "AccessDenied");
  if (s3rver === undefined) return;
  const s3rverKey = `s3://${s3rver.bucket}/private/${s.identityId}/cli/up.txt`;
  const put = await aws("cupbearer-s3rver", "s3", "cp", file, s3rverKey);
  t.equal(put.code, 0, put.stderr);
  const ls = await aws("cupbearer-s3rver", "s3", "ls", `s3://${s3rver.bucket}/private/${s.identityId}/cli/`);
  t.equal(ls.code, 0, ls.stderr);
  t.match(ls.stdout, "up.txt");
});
