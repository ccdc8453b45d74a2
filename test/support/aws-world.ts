/**
 * A small AWS world in moto, with IAM auth on, for end-to-end tests of per-user credentials:
 * an identity pool, a role, a bucket and two tables, in a moto started through
 * test/support/moto_iam_server.py (read its header for the patches it applies to moto).
 *
 * One moto serves a whole test run (`startMotoIam`, started once by the shared emulators; see
 * shared.ts); each test file builds its own world in it (`createMotoWorld`), under names of its
 * own, so files running side by side never see each other's objects, items, pools or switches.
 * `startMotoAws` does both for a private moto.
 *
 * What a world holds (account 123456789012, us-east-1; `<tag>` is the world's own):
 * - identity pool `identityPoolId` (guests allowed with `allowGuests`). GetId, GetOpenIdToken,
 *   GetCredentialsForIdentity and STS AssumeRoleWithWebIdentity work unsigned with auth on, as
 *   on AWS; every other unsigned request gets 403.
 * - role `roleName` (`roleArn`, `cupbearer-<tag>`): s3:* on `bucket` and its objects,
 *   dynamodb:* on tables named `cupbearer-<tag>-*` (so `table`, and tables a test creates under
 *   that name) and their indexes. Credentials from AssumeRoleWithWebIdentity act as the role
 *   named in the call (moto registers them itself: measured, they work with auth on).
 * - moto's fixed identity credentials (`credentials`, the same for every identity and guest,
 *   CustomRoleArn ignored) act as one role for the whole moto, `identityRoleArn`: s3:* on every
 *   bucket named `cupbearer-*` and dynamodb:* on every table named so (every world's).
 * - `forbiddenTable` (`outside-<tag>-items`) exists but no role may touch it (AccessDenied).
 * - `admin`: an IAM user allowed everything, to change the world after auth is on
 *   (`createRole`).
 * - `endpoint` is a relay of the world's own in front of moto: `stop()` closes it, so the file
 *   sees moto go down while other files keep theirs.
 *
 * Measured here with auth on (see aws-world.test.ts):
 * - Refusals: wrong secret → SignatureDoesNotMatch (403, S3 and DynamoDB); session token
 *   missing → S3 InvalidAccessKeyId / DynamoDB InvalidClientTokenId (403); wrong session token
 *   → S3 InvalidToken (400) / DynamoDB InvalidClientTokenId (403); outside the role's policy →
 *   AccessDenied (403); unsigned → 403 (S3 AccessDenied XML; unsigned requests moto cannot tie
 *   to a service, e.g. DynamoDB without a signature, land in its S3 backend). JSON services
 *   answer JSON errors whose `__type` is that code (the launcher's doing: moto sends XML).
 * - Session policies: stock moto 5.2.1 stores the inline `Policy` of AssumeRoleWithWebIdentity
 *   but never evaluates it: a request outside it is accepted. The launcher can enforce it for
 *   the world's role (`enforceSessionPolicies` option or method): then a request by that role's
 *   sessions must be allowed by the role's policies and by the session policy. moto evaluates only Action and Resource: Conditions
 *   (StringLike on s3:prefix for ListBucket, say) are ignored, so they neither allow nor refuse.
 * - moto computes DynamoDB resources as the table ARN only because the launcher makes it (stock
 *   moto authorizes against "*", so a policy naming a table never matched).
 * - moto takes x-amz-content-sha256 as given (UNSIGNED-PAYLOAD is accepted) and serves
 *   virtual-hosted requests when the Host header is `<bucket>.s3.amazonaws.com` (or with a
 *   region), whatever address the request went to.
 * - moto's identity pool is loose: GetId answers a new identity for any call, Logins or not,
 *   whatever `allowGuests` says (so guests "work" on every pool); GetId for an unknown pool
 *   answers 500; moto never checks credential expiry (its 90 s Expiration is advisory).
 * - Start-up costs about 2 s of CPU (importing moto, as plain moto_server does) plus a few
 *   hundred ms of set-up; on a loaded 2-CPU machine that was 3 to 8 s of wall time, the same
 *   as plain moto_server side by side.
 */
import { randomBytes } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { request as httpRequest } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Sha256 } from "@aws-crypto/sha256-js";
import { CognitoIdentityClient, CreateIdentityPoolCommand } from "@aws-sdk/client-cognito-identity";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { SignatureV4 } from "@smithy/signature-v4";
import { type Emulator, EmulatorUnavailableError, launchEmulator } from "../../demo/cognito-emulator.js";
import { findOnPath } from "./moto.js";
import { startRelay } from "./relay.js";

export const MOTO_AWS_REGION = "us-east-1";
export const MOTO_ACCOUNT_ID = "123456789012";

/** An AWS key pair, with a session token for temporary credentials. */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * What moto 5.2.1's GetCredentialsForIdentity always answers (its source, cognitoidentity/
 * models.py), for every identity; they expire 90 s after each call, but moto never checks that.
 * Frozen: hand SDK clients a copy (`{ ...MOTO_IDENTITY_CREDENTIALS }`), as they write a
 * `$source` tag into the credentials object they are given.
 */
export const MOTO_IDENTITY_CREDENTIALS: Readonly<Required<AwsKeys>> = Object.freeze({
  accessKeyId: "TESTACCESSKEY12345",
  secretAccessKey: "ABCSECRETKEY",
  sessionToken: "ABC12345",
});

/** An IAM policy document. */
export interface IamPolicy {
  Version: "2012-10-17";
  Statement: ReadonlyArray<Record<string, unknown>>;
}

export interface MotoAwsOptions {
  /** The identity pool's AllowUnauthenticatedIdentities. Default false. */
  allowGuests?: boolean;
  /** Make moto evaluate session policies of the world's role (stock moto ignores them). Default false. */
  enforceSessionPolicies?: boolean;
}

/** One moto_iam_server with IAM auth on, in which each test file builds a world. */
export interface MotoIam {
  /** moto itself, `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** An IAM user allowed everything: builds worlds after auth is on. */
  readonly admin: AwsKeys;
  /** The role moto's fixed identity credentials act as (see the file's header). */
  readonly identityRoleArn: string;
}

export interface MotoAws {
  /** `http://127.0.0.1:PORT`: every service (Cognito Identity, STS, IAM, S3, DynamoDB). */
  readonly endpoint: string;
  readonly region: typeof MOTO_AWS_REGION;
  readonly accountId: string;
  /** `us-east-1:<uuid>`. */
  readonly identityPoolId: string;
  readonly allowGuests: boolean;
  /** The world's role: a fine RoleArn for AssumeRoleWithWebIdentity. */
  readonly roleName: string;
  readonly roleArn: string;
  /** The role `credentials` act as, shared by every world of this moto. */
  readonly identityRoleArn: string;
  /** The role's inline policy, as sent to IAM. */
  readonly rolePolicy: IamPolicy;
  /** A bucket the role may do anything with. */
  readonly bucket: string;
  /** A table (hash key `pk`, string) the role may do anything with. */
  readonly table: string;
  /** A table (hash key `pk`, string) outside the role's policy. */
  readonly forbiddenTable: string;
  /** moto's fixed identity credentials (a copy of MOTO_IDENTITY_CREDENTIALS), acting as `identityRoleArn`. */
  readonly credentials: Required<AwsKeys>;
  /** An IAM user allowed everything: signs `createRole` and any set-up after auth is on. */
  readonly admin: AwsKeys;
  /** Turns the launcher's session-policy evaluation for `roleArn`'s sessions on or off. */
  enforceSessionPolicies(on: boolean): Promise<void>;
  /** Creates a role (trusting cognito-identity) with one inline policy; returns its ARN. */
  createRole(name: string, policy: IamPolicy): Promise<string>;
  /** Closes the world's relay: moto is down for this world (and, if private, stops it). */
  stop(): Promise<void>;
}

const IDENTITY_ROLE_NAME = "cupbearer-identity";
const SETUP_KEYS: AwsKeys = { accessKeyId: "setup", secretAccessKey: "setup" };
const MAX_ANSWER_BYTES = 1024 * 1024;

const LAUNCHER = join(dirname(fileURLToPath(import.meta.url)), "moto_iam_server.py");

/** Trust policy of the world's roles: Cognito identities, as on AWS. */
const COGNITO_TRUST: IamPolicy = {
  Version: "2012-10-17",
  Statement: [
    {
      Effect: "Allow",
      Principal: { Federated: "cognito-identity.amazonaws.com" },
      Action: "sts:AssumeRoleWithWebIdentity",
    },
  ],
};

/** s3:* on the bucket(s) matching `bucket` and their objects, dynamodb:* on tables matching `tables`. */
function bucketAndTablesPolicy(bucket: string, tables: string): IamPolicy {
  const tableArn = `arn:aws:dynamodb:${MOTO_AWS_REGION}:${MOTO_ACCOUNT_ID}:table/${tables}`;
  return {
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: "s3:*", Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] },
      { Effect: "Allow", Action: "dynamodb:*", Resource: [tableArn, `${tableArn}/index/*`] },
    ],
  };
}

/** What a raw HTTP exchange answered. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface SignedRequest {
  endpoint: string;
  method: string;
  /** Already percent-encoded, as sent. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | Buffer;
  service: string;
  region?: string;
  credentials: AwsKeys;
  /** Host header to send (and sign) instead of the endpoint's, e.g. for virtual-hosted S3. */
  host?: string;
}

/**
 * Signs a request with @smithy/signature-v4 (S3's path rule for service s3) and sends it to the
 * endpoint's address. A given `x-amz-content-sha256` header (e.g. UNSIGNED-PAYLOAD) is signed
 * as is; otherwise the body's hash is.
 */
export async function sendSigned(req: SignedRequest): Promise<RawAnswer> {
  const url = new URL(req.endpoint);
  const host = req.host ?? url.host;
  const signer = new SignatureV4({
    service: req.service,
    region: req.region ?? MOTO_AWS_REGION,
    credentials: req.credentials,
    sha256: Sha256,
    uriEscapePath: req.service !== "s3",
  });
  const signed = await signer.sign({
    method: req.method,
    protocol: url.protocol,
    hostname: host,
    path: req.path,
    query: req.query ?? {},
    headers: { host, ...req.headers },
    body: req.body,
  });
  const search = new URLSearchParams(req.query ?? {}).toString();
  return sendRaw(req.endpoint, {
    method: req.method,
    path: search === "" ? req.path : `${req.path}?${search}`,
    headers: signed.headers,
    ...(req.body !== undefined && { body: req.body }),
  });
}

/** One HTTP exchange with exactly these headers (no Host rewriting), answer bounded. */
export function sendRaw(
  endpoint: string,
  req: { method: string; path: string; headers: Record<string, string>; body?: string | Buffer },
): Promise<RawAnswer> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const out = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers: req.headers,
        setHost: req.headers.host === undefined,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            res.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.once("error", reject);
        res.once("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    out.once("timeout", () => out.destroy(new Error(`${req.method} ${req.path}: no answer in 10 s`)));
    out.once("error", reject);
    out.end(req.body);
  });
}

/** One IAM query-API call; returns the XML answer or throws with IAM's error. */
async function iam(endpoint: string, credentials: AwsKeys, params: Record<string, string>): Promise<string> {
  const answer = await sendSigned({
    endpoint,
    method: "POST",
    path: "/",
    service: "iam",
    credentials,
    headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    body: new URLSearchParams({ Version: "2010-05-08", ...params }).toString(),
  });
  if (answer.status !== 200) {
    const code = /<Code>([^<]*)<\/Code>/.exec(answer.body)?.[1] ?? "unknown error";
    throw new Error(`IAM ${params.Action} answered ${answer.status} ${code}`);
  }
  return answer.body;
}

function xmlField(xml: string, name: string): string {
  const value = new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1];
  if (value === undefined) throw new Error(`IAM answer without <${name}>`);
  return value;
}

async function createRoleWithPolicy(
  endpoint: string,
  credentials: AwsKeys,
  name: string,
  policy: IamPolicy,
): Promise<string> {
  const created = await iam(endpoint, credentials, {
    Action: "CreateRole",
    RoleName: name,
    AssumeRolePolicyDocument: JSON.stringify(COGNITO_TRUST),
  });
  await iam(endpoint, credentials, {
    Action: "PutRolePolicy",
    RoleName: name,
    PolicyName: `${name}-policy`,
    PolicyDocument: JSON.stringify(policy),
  });
  return xmlField(created, "Arn");
}

async function post(endpoint: string, path: string, body: string): Promise<void> {
  const res = await fetch(`${endpoint}${path}`, { method: "POST", body, signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`POST ${path} answered ${res.status}`);
}

/** Starts the launcher with TZ=UTC (moto's credential Expiration is naive local time). */
function launch(roleArn: string): Promise<Emulator> {
  const python = findOnPath("python3");
  if (!python) return Promise.reject(new EmulatorUnavailableError("python3 not found on PATH"));
  accessSync(LAUNCHER, constants.R_OK); // a missing launcher is a bug, not a missing tool
  return launchEmulator(
    async (port) => ({
      command: python,
      args: [LAUNCHER, "--port", String(port), "--identity-role-arn", roleArn],
      env: { ...process.env, TZ: "UTC", PYTHONUNBUFFERED: "1" },
      endpoint: `http://127.0.0.1:${port}`,
      isReady: async (url, signal) => (await fetch(`${url}/_cupbearer/ready`, { signal })).ok,
    }),
    { name: "moto_iam_server" },
  );
}

async function createTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
}

/**
 * Starts moto with IAM auth on, the identity role and the admin user (see the file's header);
 * no world yet. Missing python3 or moto → EmulatorUnavailableError, so `withEmulator` skips (or
 * fails under CI).
 */
export async function startMotoIam(): Promise<MotoIam & { stop(): Promise<void> }> {
  const identityRoleArn = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/${IDENTITY_ROLE_NAME}`;
  const emulator = await launch(identityRoleArn);
  const { endpoint } = emulator;
  try {
    const [createdRoleArn, admin] = await Promise.all([
      createRoleWithPolicy(
        endpoint,
        SETUP_KEYS,
        IDENTITY_ROLE_NAME,
        bucketAndTablesPolicy("cupbearer-*", "cupbearer-*"),
      ),
      (async (): Promise<AwsKeys> => {
        await iam(endpoint, SETUP_KEYS, { Action: "CreateUser", UserName: "cupbearer-admin" });
        await iam(endpoint, SETUP_KEYS, {
          Action: "PutUserPolicy",
          UserName: "cupbearer-admin",
          PolicyName: "everything",
          PolicyDocument: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
          }),
        });
        const key = await iam(endpoint, SETUP_KEYS, {
          Action: "CreateAccessKey",
          UserName: "cupbearer-admin",
        });
        return {
          accessKeyId: xmlField(key, "AccessKeyId"),
          secretAccessKey: xmlField(key, "SecretAccessKey"),
        };
      })(),
    ]);
    if (createdRoleArn !== identityRoleArn) {
      throw new Error(`role ARN ${createdRoleArn}, expected ${identityRoleArn}`);
    }
    // IAM auth on (moto's own switch: 0 unauthenticated requests left).
    await post(endpoint, "/moto-api/reset-auth", "0");
    return { endpoint, admin, identityRoleArn, stop: emulator.stop };
  } catch (err) {
    await emulator.stop();
    throw err;
  }
}

/**
 * Builds a world of this file's own in `moto` (see the file's header), signed by its admin; its
 * `stop()` closes the world's relay only.
 */
export async function createMotoWorld(moto: MotoIam, options: MotoAwsOptions = {}): Promise<MotoAws> {
  const tag = randomBytes(4).toString("hex");
  const name = `cupbearer-${tag}`;
  const names = { bucket: name, table: `${name}-items`, forbiddenTable: `outside-${tag}-items` };
  const allowGuests = options.allowGuests ?? false;
  const admin = { ...moto.admin };
  const sdk = { region: MOTO_AWS_REGION, endpoint: moto.endpoint, credentials: admin, maxAttempts: 1 };
  const s3 = new S3Client({ ...sdk, forcePathStyle: true });
  const dynamodb = new DynamoDBClient(sdk);
  const identity = new CognitoIdentityClient(sdk);
  const relay = await startRelay(moto.endpoint);
  try {
    const rolePolicy = bucketAndTablesPolicy(names.bucket, `${name}-*`);
    const [roleArn, identityPoolId] = await Promise.all([
      createRoleWithPolicy(moto.endpoint, admin, name, rolePolicy),
      (async () => {
        const out = await identity.send(
          new CreateIdentityPoolCommand({
            IdentityPoolName: `cupbearer_${tag}`,
            AllowUnauthenticatedIdentities: allowGuests,
          }),
        );
        if (out.IdentityPoolId === undefined) throw new Error("CreateIdentityPool answered without an id");
        return out.IdentityPoolId;
      })(),
      s3.send(new CreateBucketCommand({ Bucket: names.bucket })),
      createTable(dynamodb, names.table),
      createTable(dynamodb, names.forbiddenTable),
    ]);
    const world: MotoAws = {
      endpoint: relay.endpoint,
      region: MOTO_AWS_REGION,
      accountId: MOTO_ACCOUNT_ID,
      identityPoolId,
      allowGuests,
      roleName: name,
      roleArn,
      identityRoleArn: moto.identityRoleArn,
      rolePolicy,
      ...names,
      credentials: { ...MOTO_IDENTITY_CREDENTIALS },
      admin,
      // To moto itself, not through the relay: a teardown may switch it off after stop().
      enforceSessionPolicies: (on) =>
        post(moto.endpoint, "/_cupbearer/session-policies", `${on ? "on" : "off"} ${roleArn}`),
      createRole: (roleName, policy) => createRoleWithPolicy(moto.endpoint, admin, roleName, policy),
      stop: () => relay.close(),
    };
    if (options.enforceSessionPolicies) await world.enforceSessionPolicies(true);
    return world;
  } catch (err) {
    await relay.close();
    throw err;
  } finally {
    s3.destroy();
    dynamodb.destroy();
    identity.destroy();
  }
}

/** A private moto (`startMotoIam`) with one world in it; the world's `stop()` stops moto too. */
export async function startMotoAws(options: MotoAwsOptions = {}): Promise<MotoAws> {
  const moto = await startMotoIam();
  try {
    const world = await createMotoWorld(moto, options);
    return {
      ...world,
      stop: async () => {
        await world.stop();
        await moto.stop();
      },
    };
  } catch (err) {
    await moto.stop();
    throw err;
  }
}
