/**
 * Proves the AWS test harnesses are real, and documents what they accept and refuse:
 * - moto (moto_iam_server.py, IAM auth on): identity credentials obtained unsigned through the
 *   real @aws-sdk/client-cognito-identity sign S3 and DynamoDB requests that moto accepts;
 *   wrong secret, missing or wrong session token, unsigned requests and requests outside the
 *   role's policy are refused. The basic flow (GetOpenIdToken + STS AssumeRoleWithWebIdentity)
 *   works, and session policies are ignored by stock moto but enforced on request.
 * - s3rver: accepts the same identity credentials, refuses a wrong secret; what it does not
 *   check (session token, unsigned requests) is pinned here so nobody relies on it.
 */
import {
  CognitoIdentityClient,
  GetCredentialsForIdentityCommand,
  GetIdCommand,
  GetOpenIdTokenCommand,
} from "@aws-sdk/client-cognito-identity";
import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { AssumeRoleWithWebIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import t, { type Test } from "tap";
import { type AwsKeys, MOTO_IDENTITY_CREDENTIALS, type MotoAws, sendSigned } from "./aws-world.js";
import { sharedMotoWorld, sharedS3rver } from "./shared.js";

const REGION = "us-east-1";
/** Never used to sign: the identity operations are unsigned by design (the SDK's noAuth). */
const UNUSED_KEYS = { accessKeyId: "never-used", secretAccessKey: "never-used" };

// Copies: SDK clients tag the credentials object they are given.
function s3(endpoint: string, credentials: AwsKeys): S3Client {
  return new S3Client({
    region: REGION,
    endpoint,
    credentials: { ...credentials },
    forcePathStyle: true,
    maxAttempts: 1,
  });
}

function dynamodb(endpoint: string, credentials: AwsKeys): DynamoDBClient {
  return new DynamoDBClient({ region: REGION, endpoint, credentials: { ...credentials }, maxAttempts: 1 });
}

/** What an SDK call was refused with: the error's name (AWS's code) and HTTP status. */
async function refusal(t: Test, call: () => Promise<unknown>): Promise<{ name: string; status: number }> {
  try {
    await call();
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name ?? "?", status: e.$metadata?.httpStatusCode ?? 0 };
  }
  t.fail("expected a refusal, the call succeeded");
  return { name: "accepted", status: 200 };
}

async function putAndGet(
  t: Test,
  client: S3Client,
  bucket: string,
  key: string,
  body: string,
): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  t.equal(await out.Body?.transformToString(), body, `${key} read back`);
}

/** GetId + GetCredentialsForIdentity through the real SDK client, as the proxy does. */
async function identityCredentials(world: MotoAws): Promise<Required<AwsKeys>> {
  const client = new CognitoIdentityClient({
    region: REGION,
    endpoint: world.endpoint,
    credentials: UNUSED_KEYS,
    maxAttempts: 1,
  });
  try {
    const logins = { "cognito-idp.us-east-1.amazonaws.com/us-east-1_example": "an-id-token" };
    const { IdentityId } = await client.send(
      new GetIdCommand({ IdentityPoolId: world.identityPoolId, Logins: logins }),
    );
    const out = await client.send(new GetCredentialsForIdentityCommand({ IdentityId, Logins: logins }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretKey || !c.SessionToken) throw new Error("no credentials");
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretKey, sessionToken: c.SessionToken };
  } finally {
    client.destroy();
  }
}

t.test("moto with IAM auth on", async (t) => {
  const started = Date.now();
  const world = await sharedMotoWorld(t);
  if (!world) return;
  t.comment(`moto world ready in ${Date.now() - started} ms`);
  const clients: { destroy(): void }[] = [];
  t.teardown(() => {
    for (const c of clients) c.destroy();
  });
  const keep = <C extends { destroy(): void }>(c: C): C => {
    clients.push(c);
    return c;
  };

  const creds = await identityCredentials(world);
  t.same(creds, MOTO_IDENTITY_CREDENTIALS, "moto's fixed identity credentials, obtained unsigned");
  const s3ok = keep(s3(world.endpoint, creds));
  const dbok = keep(dynamodb(world.endpoint, creds));

  t.test("accepts S3 and DynamoDB requests signed with them", async (t) => {
    await putAndGet(t, s3ok, world.bucket, "private/alice/hello.txt", "hello from alice");
    await dbok.send(
      new PutItemCommand({ TableName: world.table, Item: { pk: { S: "k1" }, v: { S: "one" } } }),
    );
    const got = await dbok.send(new GetItemCommand({ TableName: world.table, Key: { pk: { S: "k1" } } }));
    t.same(got.Item, { pk: { S: "k1" }, v: { S: "one" } });
  });

  t.test("accepts UNSIGNED-PAYLOAD and virtual-hosted requests", async (t) => {
    const put = await sendSigned({
      endpoint: world.endpoint,
      method: "PUT",
      path: `/${world.bucket}/raw/unsigned-payload.txt`,
      headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
      body: "streamed",
      service: "s3",
      credentials: creds,
    });
    t.equal(put.status, 200, "UNSIGNED-PAYLOAD accepted");
    const get = await sendSigned({
      endpoint: world.endpoint,
      host: `${world.bucket}.s3.${REGION}.amazonaws.com`,
      method: "GET",
      path: "/raw/unsigned-payload.txt",
      service: "s3",
      credentials: creds,
    });
    t.equal(get.status, 200, "virtual-hosted GET accepted");
    t.equal(get.body, "streamed");
  });

  t.test("refuses a wrong secret", async (t) => {
    const wrong = { ...creds, secretAccessKey: "not-the-secret" };
    t.same(await refusal(t, () => keep(s3(world.endpoint, wrong)).send(getHello(world))), {
      name: "SignatureDoesNotMatch",
      status: 403,
    });
    t.same(await refusal(t, () => keep(dynamodb(world.endpoint, wrong)).send(getItem(world.table))), {
      name: "SignatureDoesNotMatch",
      status: 403,
    });
  });

  t.test("refuses a missing or wrong session token", async (t) => {
    const missing = { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey };
    t.same(await refusal(t, () => keep(s3(world.endpoint, missing)).send(getHello(world))), {
      name: "InvalidAccessKeyId",
      status: 403,
    });
    t.same(await refusal(t, () => keep(dynamodb(world.endpoint, missing)).send(getItem(world.table))), {
      name: "InvalidClientTokenId",
      status: 403,
    });
    const wrong = { ...creds, sessionToken: "not-the-token" };
    t.same(await refusal(t, () => keep(s3(world.endpoint, wrong)).send(getHello(world))), {
      name: "InvalidToken",
      status: 400,
    });
    t.same(await refusal(t, () => keep(dynamodb(world.endpoint, wrong)).send(getItem(world.table))), {
      name: "InvalidClientTokenId",
      status: 403,
    });
  });

  t.test("refuses unsigned requests", async (t) => {
    const get = await fetch(`${world.endpoint}/${world.bucket}/private/alice/hello.txt`);
    await get.arrayBuffer();
    t.equal(get.status, 403, "unsigned S3 GET");
    const put = await fetch(`${world.endpoint}/${world.bucket}/sneaky.txt`, { method: "PUT", body: "x" });
    await put.arrayBuffer();
    t.equal(put.status, 403, "unsigned S3 PUT");
    const item = await fetch(world.endpoint, {
      method: "POST",
      headers: { "x-amz-target": "DynamoDB_20120810.GetItem", "content-type": "application/x-amz-json-1.0" },
      body: JSON.stringify({ TableName: world.table, Key: { pk: { S: "k1" } } }),
    });
    await item.arrayBuffer();
    t.equal(item.status, 403, "unsigned DynamoDB GetItem");
  });

  t.test("refuses requests outside the role's policy", async (t) => {
    t.same(
      await refusal(t, () =>
        dbok.send(new PutItemCommand({ TableName: world.forbiddenTable, Item: { pk: { S: "k1" } } })),
      ),
      { name: "AccessDenied", status: 403 },
      "the other table",
    );
    t.same(
      await refusal(t, () => s3ok.send(new GetObjectCommand({ Bucket: "another-bucket", Key: "x" }))),
      { name: "AccessDenied", status: 403 },
      "another bucket",
    );
  });

  t.test("basic flow: AssumeRoleWithWebIdentity credentials, session policy", async (t) => {
    const identity = keep(
      new CognitoIdentityClient({ region: REGION, endpoint: world.endpoint, credentials: UNUSED_KEYS }),
    );
    const sts = keep(new STSClient({ region: REGION, endpoint: world.endpoint, credentials: UNUSED_KEYS }));
    // No Logins on a pool without guests: AWS would refuse, moto does not check.
    t.equal(world.allowGuests, false);
    const { IdentityId } = await identity.send(new GetIdCommand({ IdentityPoolId: world.identityPoolId }));
    const { Token } = await identity.send(new GetOpenIdTokenCommand({ IdentityId }));
    const sessionPolicy = {
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: "s3:*", Resource: `arn:aws:s3:::${world.bucket}/private/bob/*` },
      ],
    };
    const out = await sts.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: world.roleArn,
        RoleSessionName: "bob",
        WebIdentityToken: Token,
        Policy: JSON.stringify(sessionPolicy),
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error("no credentials");
    t.match(c.AccessKeyId, /^ASIA/, "moto's own temporary key");
    const bob = keep(
      s3(world.endpoint, {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
      }),
    );
    await putAndGet(t, bob, world.bucket, "private/bob/in.txt", "inside");
    // Stock moto: the session policy is stored, never evaluated.
    await putAndGet(t, bob, world.bucket, "private/alice/bob-was-here.txt", "outside");
    await world.enforceSessionPolicies(true);
    t.teardown(() => world.enforceSessionPolicies(false));
    t.same(
      await refusal(t, () =>
        bob.send(new PutObjectCommand({ Bucket: world.bucket, Key: "private/alice/x", Body: "x" })),
      ),
      { name: "AccessDenied", status: 403 },
      "outside the session policy, enforced",
    );
    await putAndGet(t, bob, world.bucket, "private/bob/in.txt", "still inside");
  });

  t.test("createRole: a role made after auth is on governs its credentials", async (t) => {
    const roleArn = await world.createRole("cupbearer-reader", {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${world.bucket}/*` }],
    });
    const sts = keep(new STSClient({ region: REGION, endpoint: world.endpoint, credentials: UNUSED_KEYS }));
    const out = await sts.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: roleArn,
        RoleSessionName: "reader",
        WebIdentityToken: "x",
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error("no credentials");
    const reader = keep(
      s3(world.endpoint, {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
      }),
    );
    const got = await reader.send(
      new GetObjectCommand({ Bucket: world.bucket, Key: "private/alice/hello.txt" }),
    );
    t.equal(await got.Body?.transformToString(), "hello from alice");
    t.same(
      await refusal(t, () =>
        reader.send(new PutObjectCommand({ Bucket: world.bucket, Key: "r.txt", Body: "x" })),
      ),
      { name: "AccessDenied", status: 403 },
    );
  });
});

function getHello(world: MotoAws): GetObjectCommand {
  return new GetObjectCommand({ Bucket: world.bucket, Key: "private/alice/hello.txt" });
}

function getItem(table: string): GetItemCommand {
  return new GetItemCommand({ TableName: table, Key: { pk: { S: "k1" } } });
}

t.test("s3rver checks SigV4 against moto's identity key pair", async (t) => {
  const started = Date.now();
  const server = await sharedS3rver(t);
  if (!server) return;
  t.comment(`s3rver ready in ${Date.now() - started} ms`);
  const good = s3(server.endpoint, MOTO_IDENTITY_CREDENTIALS);
  const wrong = s3(server.endpoint, { ...MOTO_IDENTITY_CREDENTIALS, secretAccessKey: "not-the-secret" });
  const noToken = s3(server.endpoint, {
    accessKeyId: MOTO_IDENTITY_CREDENTIALS.accessKeyId,
    secretAccessKey: MOTO_IDENTITY_CREDENTIALS.secretAccessKey,
  });
  const builtIn = s3(server.endpoint, { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
  t.teardown(() => {
    for (const c of [good, wrong, noToken, builtIn]) c.destroy();
  });

  await putAndGet(t, good, server.bucket, "private/alice/hello world ü.txt", "hello from alice");
  const get = new GetObjectCommand({ Bucket: server.bucket, Key: "private/alice/hello world ü.txt" });
  t.same(
    await refusal(t, () => wrong.send(get)),
    { name: "SignatureDoesNotMatch", status: 403 },
    "wrong secret",
  );
  t.same(
    await refusal(t, () => builtIn.send(get)),
    { name: "InvalidAccessKeyId", status: 403 },
    "S3RVER revoked",
  );

  // What s3rver does not check: pinned so no test mistakes it for a refusal.
  const answer = await wrongSecretBody(server.endpoint, server.bucket);
  t.notMatch(answer, MOTO_IDENTITY_CREDENTIALS.sessionToken, "its error body holds no session token");
  await putAndGet(t, noToken, server.bucket, "no-token.txt", "session token not checked");
  const unsigned = await fetch(`${server.endpoint}/${server.bucket}/no-token.txt`);
  t.equal(await unsigned.text(), "session token not checked", "unsigned requests are accepted");

  const signed = (extra: Partial<Parameters<typeof sendSigned>[0]>) =>
    sendSigned({
      endpoint: server.endpoint,
      method: "PUT",
      path: `/${server.bucket}/raw.txt`,
      body: "raw",
      service: "s3",
      credentials: MOTO_IDENTITY_CREDENTIALS,
      ...extra,
    });
  t.equal(
    (await signed({ headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } })).status,
    200,
    "UNSIGNED-PAYLOAD",
  );
  const trailer = await signed({ headers: { "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER" } });
  t.equal(trailer.status, 400, "STREAMING-UNSIGNED-PAYLOAD-TRAILER refused");
  t.match(trailer.body, /InvalidArgument/);
  t.equal((await signed({ region: "eu-west-3" })).status, 200, "any region in the scope");
  const vhost = await signed({
    method: "GET",
    path: "/raw.txt",
    body: undefined,
    host: `${server.bucket}.s3.${REGION}.amazonaws.com`,
  });
  // s3rver puts the bucket in the canonical URI of virtual-hosted requests too, AWS does not.
  t.equal(vhost.status, 403, "virtual-hosted, signed as AWS does: refused");
  t.match(vhost.body, /SignatureDoesNotMatch/);
});

/** The raw body of a wrong-secret refusal, to check what s3rver echoes. */
async function wrongSecretBody(endpoint: string, bucket: string): Promise<string> {
  const answer = await sendSigned({
    endpoint,
    method: "GET",
    path: `/${bucket}/no-such-key`,
    service: "s3",
    credentials: { ...MOTO_IDENTITY_CREDENTIALS, secretAccessKey: "not-the-secret" },
  });
  if (answer.status !== 403 || !answer.body.includes("SignatureDoesNotMatch")) {
    throw new Error(`expected SignatureDoesNotMatch, got ${answer.status}`);
  }
  return answer.body;
}
