/**
 * AWS routes end to end against emulators that check signatures: real ID tokens from
 * cognito-local, a real identity pool, STS, S3 and DynamoDB in moto with IAM auth on, and
 * cupbearer in between. The client sends only `Authorization: Bearer <ID token>`.
 *
 * moto's quirks shape two choices here. Keys use `{sub}`, not `{identityId}`: moto decodes `%3A` in a path before checking the
 * signature, so identity ids (`us-east-1:<uuid>`) in keys fail there (they pass against s3rver).
 */

import { CognitoIdentityClient, GetIdCommand, GetOpenIdTokenCommand } from "@aws-sdk/client-cognito-identity";
import { AssumeRoleWithWebIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import t, { type Test } from "tap";
import { type SeededPool, seedPool } from "../../demo/cognito-emulator.js";
import { s3SessionPolicy } from "../../src/core/s3-scope.js";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { type MotoAws, sendSigned } from "../support/aws-world.js";
import { decodeJwt } from "../support/emulators.js";
import { sharedCognitoLocal, sharedMotoWorld } from "../support/shared.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";

t.setTimeout(180_000);

const PASSWORD = "Passw0rd!";
// The run's shared emulators; the world (pool, role, bucket, tables, relay) is this file's own.
const [cognito, world] = await Promise.all([
  sharedCognitoLocal(t),
  sharedMotoWorld(t, { allowGuests: true }),
]);

interface Setup {
  app: RunningApp;
  world: MotoAws;
  api: RecordingUpstream;
  alice: { idToken: string; sub: string };
  /** A second user, who makes no request before the outage test. */
  bob: string;
}

async function setUp(t: Test): Promise<Setup | undefined> {
  if (cognito === undefined || world === undefined) {
    t.pass("emulators not running", { skip: "see the SKIPPED banner" });
    return undefined;
  }
  const pool: SeededPool = await seedPool(cognito.endpoint, {
    poolName: "cupbearer-aws",
    groups: ["admin"],
    users: [
      { username: "alice", password: PASSWORD, email: "alice@example.com" },
      { username: "bob", password: PASSWORD },
    ],
  });
  const { idToken } = await pool.signIn("alice", PASSWORD);
  const bob = (await pool.signIn("bob", PASSWORD)).idToken;
  const sub = String(decodeJwt(idToken).payload.sub);
  const api = await startUpstream();
  const pools = `
  - id: main
    identityPoolId: "${world.identityPoolId}"
    region: us-east-1
    endpoint: "${world.endpoint}"
    allowGuests: true
  - id: classic
    identityPoolId: "${world.identityPoolId}"
    region: us-east-1
    endpoint: "${world.endpoint}"
    flow: basic
    roles: { basicFlowDefault: "${world.roleArn}" }`;
  const s3 = (pool: string) => `{ service: s3, region: us-east-1, identityPool: ${pool} }`;
  const app = await startApp(`
issuers:
  - { id: local, issuer: "${pool.issuer}", jwksUri: "${pool.jwksUri}", clientIds: ["${pool.clientId}"] }
identityPools:${pools}
routes:
  - id: files
    match: { pathPrefix: /files }
    stripPrefix: true
    upstream: { url: "${world.endpoint}/${world.bucket}", aws: ${s3("main")}, s3: { keyPrefix: "private/{sub}/" } }
    auth: { tokenUse: id }
  - id: classic-files
    match: { pathPrefix: /classic }
    stripPrefix: true
    upstream: { url: "${world.endpoint}/${world.bucket}", aws: ${s3("classic")}, s3: { keyPrefix: "private/{sub}/" } }
    auth: { tokenUse: id }
  - id: public-files
    match: { pathPrefix: /public }
    upstream: { url: "${world.endpoint}/${world.bucket}", aws: ${s3("main")} }
    auth: { mode: public }
  - id: table
    match: { pathPrefix: /dynamo }
    stripPrefix: true
    upstream:
      url: "${world.endpoint}"
      aws: { service: dynamodb, region: us-east-1, identityPool: main }
      dynamodb: { tables: ["${world.table}", cupbearer-orders], operations: [CreateTable, PutItem, GetItem, Query] }
    auth: { tokenUse: id }
  - id: any-table
    match: { pathPrefix: /any-table }
    stripPrefix: true
    upstream: { url: "${world.endpoint}", aws: { service: dynamodb, region: us-east-1, identityPool: main } }
    auth: { tokenUse: id }
  - id: api
    match: { pathPrefix: /api }
    upstream: "${api.url}"
`);
  t.teardown(async () => {
    await app.stop();
    await api.close();
  });
  await waitReady(app.adminUrl);
  return { app, world, api, alice: { idToken, sub }, bob };
}

async function metric(app: RunningApp, series: string): Promise<number> {
  const text = await (await fetch(`${app.adminUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

t.test("S3 and DynamoDB through cupbearer with only a bearer token", async (t) => {
  const s = await setUp(t);
  if (s === undefined) return;
  const { app, alice } = s;
  const bearer = { authorization: `Bearer ${alice.idToken}` };
  const own = `private/${alice.sub}`;
  const object = (key: string, init: RequestInit = {}) =>
    fetch(`${app.url}/files/${key.split("/").map(encodeURIComponent).join("/")}`, {
      ...init,
      headers: { ...bearer, ...(init.headers as Record<string, string>) },
    });

  // Listing is proven against s3rver (aws-s3rver.test.ts): moto refuses every correctly signed
  // query holding a "/", and a prefix inside the caller's always holds one.
  await t.test("PUT, GET, HEAD, DELETE, keys with spaces", async (t) => {
    const key = `${own}/notes/hello world.txt`;
    const put = await object(key, {
      method: "PUT",
      body: "hello from cupbearer",
      headers: { "content-type": "text/plain" },
    });
    t.equal(put.status, 200, await put.text());
    const get = await object(key);
    t.equal(get.status, 200);
    t.equal(await get.text(), "hello from cupbearer");
    const head = await object(key, { method: "HEAD" });
    t.equal(head.status, 200);
    t.equal(head.headers.get("content-length"), "20");
    const del = await object(key, { method: "DELETE" });
    t.equal(del.status, 204);
    const gone = await object(key);
    t.equal(gone.status, 404, "moto's own answer passes through");
    t.match(await gone.text(), /NoSuchKey/);
  });

  await t.test("refusals before signing: other prefixes, no token", async (t) => {
    const signed = await metric(app, 'cupbearer_signed_requests_total{route="files",service="s3"}');
    const outside = await object("private/someone-else/x.txt", { method: "PUT", body: "x" });
    t.equal(outside.status, 403);
    t.match(await outside.text(), /<Code>AccessDenied<\/Code>/, "in S3's own dialect");
    const listAll = await fetch(`${app.url}/files?list-type=2`, { headers: bearer });
    t.equal(listAll.status, 403);
    const anonymous = await fetch(`${app.url}/files/${own}/x`);
    t.equal(anonymous.status, 401);
    t.equal(
      await metric(app, 'cupbearer_signed_requests_total{route="files",service="s3"}'),
      signed,
      "none was signed",
    );
  });

  await t.test("the emulator's check is real: a wrong secret is refused", async (t) => {
    const answer = await sendSigned({
      endpoint: s.world.endpoint,
      method: "GET",
      path: `/${s.world.bucket}/${own}/x`,
      service: "s3",
      credentials: { ...s.world.credentials, secretAccessKey: "wrong-secret" },
    });
    t.equal(answer.status, 403);
    t.match(answer.body, /SignatureDoesNotMatch/);
  });

  await t.test(
    "DynamoDB: CreateTable, PutItem, GetItem, Query; allow-lists refuse before signing",
    async (t) => {
      const call = (route: string, operation: string, body: unknown) =>
        fetch(`${app.url}/${route}`, {
          method: "POST",
          headers: {
            ...bearer,
            "content-type": "application/x-amz-json-1.0",
            "x-amz-target": `DynamoDB_20120810.${operation}`,
          },
          body: JSON.stringify(body),
        });
      const created = await call("dynamo", "CreateTable", {
        TableName: "cupbearer-orders",
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      });
      t.equal(created.status, 200, await created.text());
      const item = { pk: { S: alice.sub }, note: { S: "grüße" } };
      const put = await call("dynamo", "PutItem", { TableName: s.world.table, Item: item });
      t.equal(put.status, 200, await put.text());
      const got = await call("dynamo", "GetItem", {
        TableName: s.world.table,
        Key: { pk: { S: alice.sub } },
      });
      t.equal(got.status, 200);
      t.strictSame(((await got.json()) as { Item: unknown }).Item, item);
      const query = await call("dynamo", "Query", {
        TableName: s.world.table,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": { S: alice.sub } },
      });
      t.equal(((await query.json()) as { Count: number }).Count, 1);

      const signed = await metric(app, 'cupbearer_signed_requests_total{route="table",service="dynamodb"}');
      const otherTable = await call("dynamo", "GetItem", {
        TableName: s.world.forbiddenTable,
        Key: { pk: { S: "1" } },
      });
      t.equal(otherTable.status, 403);
      const otherOp = await call("dynamo", "DeleteTable", { TableName: s.world.table });
      t.equal(otherOp.status, 403);
      t.equal(
        await metric(app, 'cupbearer_signed_requests_total{route="table",service="dynamodb"}'),
        signed,
        "neither was signed",
      );

      // Without allow-lists the request is signed, and AWS itself refuses what the role may not do.
      const byRole = await call("any-table", "GetItem", {
        TableName: s.world.forbiddenTable,
        Key: { pk: { S: "1" } },
      });
      t.equal(byRole.status, 403);
      t.match(await byRole.text(), /"__type": "AccessDenied"/, "AWS refused it, not cupbearer");
    },
  );

  await t.test("guests sign with the pool's unauthenticated identity", async (t) => {
    const res = await fetch(`${app.url}/public/${s.world.bucket}/public/missing.txt`);
    t.equal(res.status, 404, "moto checked the guest's signature and looked for the key");
    t.match(await res.text(), /NoSuchKey/);
  });

  await t.test("credentials are cached: one exchange for the user, hits afterwards", async (t) => {
    const exchanges = await metric(
      app,
      'cupbearer_credential_exchanges_total{pool="main",flow="enhanced",result="ok"}',
    );
    const hits = await metric(app, 'cupbearer_credential_cache_hits_total{pool="main",cache="credentials"}');
    for (let i = 0; i < 5; i++) t.equal((await object(`${own}/missing`)).status, 404);
    t.equal(
      await metric(app, 'cupbearer_credential_exchanges_total{pool="main",flow="enhanced",result="ok"}'),
      exchanges,
      "no new exchange",
    );
    t.ok(
      (await metric(app, 'cupbearer_credential_cache_hits_total{pool="main",cache="credentials"}')) >=
        hits + 5,
    );
  });

  await t.test("basic flow: STS credentials with a session policy confining the prefix", async (t) => {
    await s.world.enforceSessionPolicies(true);
    t.teardown(() => s.world.enforceSessionPolicies(false));
    const put = await fetch(`${app.url}/classic/${own}/basic.txt`, {
      method: "PUT",
      headers: bearer,
      body: "basic",
    });
    t.equal(put.status, 200, await put.text());
    t.equal(
      await metric(app, 'cupbearer_credential_exchanges_total{pool="classic",flow="basic",result="ok"}'),
      1,
    );

    // The same session policy, asked for directly: AWS (moto) refuses outside it.
    const identity = new CognitoIdentityClient({ region: "us-east-1", endpoint: s.world.endpoint });
    const sts = new STSClient({ region: "us-east-1", endpoint: s.world.endpoint });
    t.teardown(() => {
      identity.destroy();
      sts.destroy();
    });
    const { IdentityId } = await identity.send(new GetIdCommand({ IdentityPoolId: s.world.identityPoolId }));
    const { Token } = await identity.send(new GetOpenIdTokenCommand({ IdentityId }));
    const out = await sts.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: s.world.roleArn,
        RoleSessionName: "direct",
        WebIdentityToken: Token,
        Policy: s3SessionPolicy(`${own}/`),
      }),
    );
    const c = out.Credentials;
    const creds = {
      accessKeyId: String(c?.AccessKeyId),
      secretAccessKey: String(c?.SecretAccessKey),
      sessionToken: String(c?.SessionToken),
    };
    const put2 = (path: string) =>
      sendSigned({
        endpoint: s.world.endpoint,
        method: "PUT",
        path,
        body: "x",
        service: "s3",
        credentials: creds,
      });
    t.equal((await put2(`/${s.world.bucket}/${own}/direct.txt`)).status, 200, "inside the policy");
    const outside = await put2(`/${s.world.bucket}/private/other/direct.txt`);
    t.equal(outside.status, 403, "outside the policy");
    t.match(outside.body, /AccessDenied/);
  });

  await t.test("identity pool down: AWS routes answer 503, API routes keep working", async (t) => {
    await s.world.stop();
    // Bob has no cached credentials: his first request needs the identity pool, which is down.
    const res = await fetch(`${app.url}/dynamo`, {
      method: "POST",
      headers: { authorization: `Bearer ${s.bob}`, "x-amz-target": "DynamoDB_20120810.GetItem" },
      body: JSON.stringify({ TableName: s.world.table, Key: { pk: { S: "1" } } }),
    });
    t.equal(res.status, 503);
    t.match(
      await res.json(),
      { __type: "com.amazonaws.dynamodb.v20120810#ServiceUnavailable" },
      "in DynamoDB's dialect",
    );
    const api = await fetch(`${app.url}/api/orders`, { headers: bearer });
    t.equal(api.status, 200, "the API route does not depend on AWS");
  });
});
