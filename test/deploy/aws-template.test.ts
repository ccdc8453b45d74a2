// biome-ignore-all lint/suspicious/noTemplateCurlyInString: IAM policy variables ${…} are these tests' subject
/**
 * deploy/aws/cupbearer.yaml: cfn-lint accepts it, its trust policies admit exactly this identity
 * pool's signed-in (or guest) identities, and its role policies agree with cupbearer's own
 * confinement on config/aws.yaml's routes. The requests of the confinement tests are decided by
 * cupbearer's real core (checkS3Request, checkDynamoDbRequest) and by the template's policy
 * documents (test/support/iam-policy.ts): what cupbearer lets through, IAM allows; what
 * cupbearer's confinement refuses, IAM denies. The few requests where IAM is deliberately
 * stricter are listed, each with the reason.
 *
 * cfn-lint is a Python tool (`pip install cfn-lint`): without it that part skips loudly, except
 * under CI=true, where that fails.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";
import { parseConfigText } from "../../src/config/load.js";
import type { RouteConfig as Route } from "../../src/config/types.js";
import { checkDynamoDbRequest } from "../../src/core/dynamodb-scope.js";
import { checkS3Request, resolveKeyPrefix, s3SessionPolicy } from "../../src/core/s3-scope.js";
import { parseTemplate, resolve, type Template } from "../support/cfn.js";
import { evaluate, type IamRequest, type PolicyDocument } from "../support/iam-policy.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TEMPLATE_FILE = `${ROOT}deploy/aws/cupbearer.yaml`;
const CFN_LINT = process.env.CFN_LINT ?? "cfn-lint";

const REGION = "eu-west-1";
const ACCOUNT = "123456789012";
const POOL = "eu-west-1:11111111-2222-3333-4444-555555555555";
const BUCKET = "files-bucket";
const ID = "eu-west-1:aaaaaaaa-0000-4000-8000-000000000001";
const OTHER = "eu-west-1:aaaaaaaa-0000-4000-8000-000000000002";
const SUB = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc";

const template: Template = parseTemplate(readFileSync(TEMPLATE_FILE, "utf8"));
const config = parseConfigText(readFileSync(`${ROOT}config/aws.yaml`, "utf8"), {});

function env(parameters: Record<string, string> = {}) {
  const defaults = Object.fromEntries(
    Object.entries(template.Parameters ?? {}).map(([k, p]) => [k, p.Default ?? ""]),
  );
  return {
    parameters: { ...defaults, ...parameters },
    pseudo: {
      "AWS::Region": REGION,
      "AWS::AccountId": ACCOUNT,
      "AWS::Partition": "aws",
      "AWS::StackName": "cb",
    },
    refs: {
      UserPool: "eu-west-1_AbCdEf123",
      AppClient: "1example23456789",
      IdentityPool: POOL,
      AuthenticatedRole: "cb-AuthenticatedRole-1",
      UnauthenticatedRole: "cb-UnauthenticatedRole-1",
      Bucket: BUCKET,
      Table: parameters.TableName ?? "Orders",
    },
    attributes: {
      "AuthenticatedRole.Arn": `arn:aws:iam::${ACCOUNT}:role/cb-AuthenticatedRole-1`,
      "UnauthenticatedRole.Arn": `arn:aws:iam::${ACCOUNT}:role/cb-UnauthenticatedRole-1`,
    },
  };
}

/** A resource's properties with every intrinsic resolved (default parameters unless given). */
function properties(resource: string, parameters?: Record<string, string>): Record<string, unknown> {
  const r = template.Resources[resource];
  if (r === undefined) throw new Error(`no resource ${resource}`);
  return resolve(template, env(parameters), r.Properties ?? {}) as Record<string, unknown>;
}

function rolePolicies(role: string): PolicyDocument[] {
  const p = properties(role) as { Policies?: Array<{ PolicyDocument: PolicyDocument }> };
  return (p.Policies ?? []).map((x) => x.PolicyDocument);
}
const trustPolicy = (role: string) => properties(role).AssumeRolePolicyDocument as PolicyDocument;

function routeOf(service: string): Route {
  const route = config.routes.find((r) => r.upstream.aws?.service === service);
  if (route === undefined) throw new Error(`config/aws.yaml has no ${service} route`);
  return route;
}

/** The context IAM has for a caller signed in through the identity pool (enhanced flow). */
const signedIn = (identityId: string) => ({
  "cognito-identity.amazonaws.com:sub": identityId,
  "cognito-identity.amazonaws.com:aud": POOL,
  "cognito-identity.amazonaws.com:amr": [
    "authenticated",
    "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
  ],
});

t.test("cfn-lint accepts the template", async (t) => {
  try {
    await run(CFN_LINT, ["--version"]);
  } catch {
    const banner = `SKIPPED: ${CFN_LINT} not found (pip install cfn-lint); deploy/aws/cupbearer.yaml not linted`;
    if (process.env.CI === "true") t.fail(`cfn-lint is required under CI=true: ${banner}`);
    else {
      console.error(`\n${"!".repeat(banner.length)}\n${banner}\n${"!".repeat(banner.length)}\n`);
      t.pass("cfn-lint", { skip: banner });
    }
    return;
  }
  const { stdout } = await run(CFN_LINT, ["--format", "parseable", TEMPLATE_FILE]).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? String(err) }),
  );
  t.equal(stdout.trim(), "", "no cfn-lint findings");
});

t.test("the template matches config/aws.yaml's routes", async (t) => {
  const s3 = routeOf("s3");
  const prefix = s3.upstream.s3?.keyPrefix;
  t.equal(prefix, "private/{identityId}/", "the S3 route's keyPrefix");
  const files = rolePolicies("AuthenticatedRole").flatMap((d) =>
    Array.isArray(d.Statement) ? d.Statement : [d.Statement],
  );
  const own = files.find((s) => s.Sid === "OwnObjects");
  t.equal(
    own?.Resource,
    `arn:aws:s3:::${BUCKET}/${(prefix ?? "").replace("{identityId}", "${cognito-identity.amazonaws.com:sub}")}*`,
    "the object statement names the same prefix, with IAM's variable for {identityId}",
  );
  const dynamo = routeOf("dynamodb").upstream.dynamodb;
  t.strictSame(template.Parameters?.TableName?.Default, dynamo?.tables?.[0], "the table's default name");
  const items = files.find((s) => s.Sid === "OwnItems");
  t.strictSame(
    items?.Action,
    (dynamo?.operations ?? []).map((o) => `dynamodb:${o}`),
    "exactly the route's DynamoDB operations",
  );
  const pool = config.identityPools[0];
  t.equal(template.Parameters?.Flow?.Default, pool?.flow, "the identity pool flow's default");
  t.equal(properties("IdentityPool").AllowClassicFlow, false, "enhanced: no classic flow");
  t.equal(properties("IdentityPool", { Flow: "basic" }).AllowClassicFlow, true, "basic: classic flow on");
  t.equal(properties("IdentityPool").AllowUnauthenticatedIdentities, false, "no guests by default");
  t.strictSame(
    properties("IdentityPool").CognitoIdentityProviders,
    [
      {
        ClientId: "1example23456789",
        ProviderName: "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
        ServerSideTokenCheck: false,
      },
    ],
    "the identity pool trusts the app client of the user pool",
  );
  t.equal(
    (
      properties("IdentityPool", { ExistingUserPoolId: "eu-west-1_Mine123" })
        .CognitoIdentityProviders as Array<{
        ProviderName: string;
      }>
    )[0]?.ProviderName,
    "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Mine123",
    "or the user pool you already have",
  );
  t.strictSame(
    properties("RoleAttachment").Roles as Record<string, string>,
    {
      authenticated: `arn:aws:iam::${ACCOUNT}:role/cb-AuthenticatedRole-1`,
      unauthenticated: `arn:aws:iam::${ACCOUNT}:role/cb-UnauthenticatedRole-1`,
    },
    "the pool's two roles",
  );
});

t.test("trust policies: this identity pool only, signed in or guest", async (t) => {
  const assume = (
    aud: string | undefined,
    amr: string[] | undefined,
    federated = "cognito-identity.amazonaws.com",
  ) => {
    const context: Record<string, string | string[]> = {};
    if (aud !== undefined) context["cognito-identity.amazonaws.com:aud"] = aud;
    if (amr !== undefined) context["cognito-identity.amazonaws.com:amr"] = amr;
    return {
      action: "sts:AssumeRoleWithWebIdentity",
      principal: { type: "Federated", id: federated },
      context,
    } as IamRequest;
  };
  const signed = ["authenticated", "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"];
  const guest = ["unauthenticated"];
  const cases: Array<[string, string, IamRequest, string]> = [
    ["authenticated", "AuthenticatedRole", assume(POOL, signed), "allow"],
    [
      "authenticated, another pool",
      "AuthenticatedRole",
      assume("eu-west-1:99999999-2222-3333-4444-555555555555", signed),
      "implicit-deny",
    ],
    ["authenticated, no aud", "AuthenticatedRole", assume(undefined, signed), "implicit-deny"],
    ["guest", "AuthenticatedRole", assume(POOL, guest), "implicit-deny"],
    ["no amr", "AuthenticatedRole", assume(POOL, undefined), "implicit-deny"],
    ["another provider", "AuthenticatedRole", assume(POOL, signed, "accounts.google.com"), "implicit-deny"],
    [
      "other action",
      "AuthenticatedRole",
      { ...assume(POOL, signed), action: "sts:AssumeRole" },
      "implicit-deny",
    ],
    ["guest", "UnauthenticatedRole", assume(POOL, guest), "allow"],
    [
      "guest, another pool",
      "UnauthenticatedRole",
      assume("eu-west-1:99999999-2222-3333-4444-555555555555", guest),
      "implicit-deny",
    ],
    ["authenticated", "UnauthenticatedRole", assume(POOL, signed), "implicit-deny"],
  ];
  for (const [name, role, request, expected] of cases) {
    t.equal(evaluate([trustPolicy(role)], request), expected, `${role}: ${name}`);
  }
  t.strictSame(rolePolicies("UnauthenticatedRole"), [], "guests may do nothing until you say so");
});

// ---------------------------------------------------------------------------------------------
// S3: a request as cupbearer's S3 route sends it upstream (path addressing, prefix stripped) and
// the authorizations S3 asks IAM for (S3 user guide, "Actions, resources and condition keys").

interface S3Case {
  name: string;
  method: string;
  path: string;
  query?: string;
  copySource?: string;
  /** Set where IAM is stricter than cupbearer on purpose: the reason. */
  iamStricter?: string;
  /** DeleteObjects names its keys in the body: the keys it names. */
  bodyKeys?: string[];
}

function s3Authorizations(c: S3Case, caller: Record<string, string | string[]>): IamRequest[] {
  const params = new URLSearchParams(c.query ?? "");
  const [, bucket = "", ...rest] = c.path.split("/");
  const key = decodeURIComponent(rest.join("/"));
  const object = (action: string, k = key, b = bucket) => ({
    action,
    resource: `arn:aws:s3:::${b}/${k}`,
    context: caller,
  });
  const bucketLevel = (action: string, extra: Record<string, string> = {}) => ({
    action,
    resource: `arn:aws:s3:::${bucket}`,
    context: { ...caller, ...extra },
  });
  if (c.path === "/") return [{ action: "s3:ListAllMyBuckets", resource: "*", context: caller }];
  if (key === "") {
    if (c.method === "GET" && params.has("acl")) return [bucketLevel("s3:GetBucketAcl")];
    if (c.method === "PUT" && params.has("policy")) return [bucketLevel("s3:PutBucketPolicy")];
    if (c.method === "GET" && params.has("versions")) return [bucketLevel("s3:ListBucketVersions")];
    if (c.method === "GET" && params.has("uploads")) return [bucketLevel("s3:ListBucketMultipartUploads")];
    if (c.method === "DELETE") return [bucketLevel("s3:DeleteBucket")];
    if (c.method === "POST" && params.has("delete"))
      return (c.bodyKeys ?? []).map((k) => object("s3:DeleteObject", k));
    if (c.method === "GET") {
      const p = params.get("prefix");
      return [bucketLevel("s3:ListBucket", p === null ? {} : { "s3:prefix": p })];
    }
    throw new Error(`no IAM mapping for bucket request ${c.name}`);
  }
  const get = c.method === "GET" || c.method === "HEAD";
  if (get && params.has("acl")) return [object("s3:GetObjectAcl")];
  if (c.method === "PUT" && params.has("acl")) return [object("s3:PutObjectAcl")];
  if (get && params.has("tagging")) return [object("s3:GetObjectTagging")];
  if (c.method === "PUT" && params.has("tagging")) return [object("s3:PutObjectTagging")];
  if (get && params.has("attributes")) return [object("s3:GetObjectAttributes")];
  if (get && params.has("uploadId")) return [object("s3:ListMultipartUploadParts")];
  if (get && params.has("versionId")) return [object("s3:GetObjectVersion")];
  if (get) return [object("s3:GetObject")];
  if (c.method === "DELETE" && params.has("uploadId")) return [object("s3:AbortMultipartUpload")];
  if (c.method === "DELETE") return [object("s3:DeleteObject")];
  if (c.method === "POST" && params.has("restore")) return [object("s3:RestoreObject")];
  if (c.method === "POST" && (params.has("uploads") || params.has("uploadId")))
    return [object("s3:PutObject")];
  if (c.method === "PUT" && c.copySource !== undefined) {
    const [, srcBucket = "", ...srcKey] = (
      c.copySource.startsWith("/") ? c.copySource : `/${c.copySource}`
    ).split("/");
    return [object("s3:PutObject"), object("s3:GetObject", decodeURIComponent(srcKey.join("/")), srcBucket)];
  }
  if (c.method === "PUT") return [object("s3:PutObject")];
  throw new Error(`no IAM mapping for object request ${c.name}`);
}

/** IAM allows a request when it allows every authorization it needs. */
function iamAllows(policies: PolicyDocument[], requests: IamRequest[]): boolean {
  return requests.length > 0 && requests.every((r) => evaluate(policies, r) === "allow");
}

const own = `/${BUCKET}/private/${ID}`;
const other = `/${BUCKET}/private/${OTHER}`;
const S3_ALLOWED: S3Case[] = [
  { name: "GetObject", method: "GET", path: `${own}/report.pdf` },
  { name: "HeadObject", method: "HEAD", path: `${own}/report.pdf` },
  { name: "PutObject", method: "PUT", path: `${own}/dir/new%20file.txt` },
  { name: "DeleteObject", method: "DELETE", path: `${own}/report.pdf` },
  {
    name: "CopyObject inside the prefix",
    method: "PUT",
    path: `${own}/copy.pdf`,
    copySource: `/${BUCKET}/private/${ID}/report.pdf`,
  },
  { name: "CreateMultipartUpload", method: "POST", path: `${own}/big.bin`, query: "uploads" },
  { name: "UploadPart", method: "PUT", path: `${own}/big.bin`, query: "partNumber=1&uploadId=u1" },
  { name: "CompleteMultipartUpload", method: "POST", path: `${own}/big.bin`, query: "uploadId=u1" },
  { name: "AbortMultipartUpload", method: "DELETE", path: `${own}/big.bin`, query: "uploadId=u1" },
  { name: "ListParts", method: "GET", path: `${own}/big.bin`, query: "uploadId=u1" },
  { name: "GetObjectTagging", method: "GET", path: `${own}/report.pdf`, query: "tagging" },
  { name: "PutObjectTagging", method: "PUT", path: `${own}/report.pdf`, query: "tagging" },
  { name: "GetObjectAttributes", method: "GET", path: `${own}/report.pdf`, query: "attributes" },
  { name: "RestoreObject", method: "POST", path: `${own}/old.bin`, query: "restore" },
  {
    name: "ListObjectsV2 of the prefix",
    method: "GET",
    path: `/${BUCKET}`,
    query: `list-type=2&prefix=private%2F${encodeURIComponent(ID)}%2F`,
  },
  {
    name: "ListObjectsV2 of a folder",
    method: "GET",
    path: `/${BUCKET}/`,
    query: `list-type=2&prefix=private/${ID}/dir/&delimiter=/`,
  },
  { name: "ListObjects (v1)", method: "GET", path: `/${BUCKET}`, query: `prefix=private/${ID}/` },
  {
    name: "PutObjectAcl",
    method: "PUT",
    path: `${own}/report.pdf`,
    query: "acl",
    iamStricter: "the bucket has ACLs disabled (BucketOwnerEnforced); the role does not grant ACL actions",
  },
  {
    name: "GetObject of a version",
    method: "GET",
    path: `${own}/report.pdf`,
    query: "versionId=v1",
    iamStricter: "the bucket is not versioned; the role does not grant version actions",
  },
];
const S3_REFUSED: S3Case[] = [
  { name: "another identity's object", method: "GET", path: `${other}/report.pdf` },
  { name: "another identity's object, PUT", method: "PUT", path: `${other}/report.pdf` },
  { name: "an identity id that extends ours", method: "GET", path: `/${BUCKET}/private/${ID}0/x` },
  { name: "outside private/", method: "GET", path: `/${BUCKET}/public/x` },
  { name: "the prefix without its slash", method: "GET", path: `/${BUCKET}/private/${ID}` },
  {
    name: "copy from another identity",
    method: "PUT",
    path: `${own}/stolen.pdf`,
    copySource: `/${BUCKET}/private/${OTHER}/report.pdf`,
  },
  {
    name: "copy from outside private/",
    method: "PUT",
    path: `${own}/x`,
    copySource: `/${BUCKET}/config/secrets`,
  },
  { name: "listing the whole bucket", method: "GET", path: `/${BUCKET}`, query: "list-type=2" },
  { name: "listing private/", method: "GET", path: `/${BUCKET}`, query: "list-type=2&prefix=private/" },
  {
    name: "listing another identity",
    method: "GET",
    path: `/${BUCKET}`,
    query: `list-type=2&prefix=private/${OTHER}/`,
  },
  {
    name: "listing an id that extends ours",
    method: "GET",
    path: `/${BUCKET}`,
    query: `list-type=2&prefix=private/${ID}`,
  },
  { name: "ListBuckets", method: "GET", path: "/" },
  { name: "GetBucketAcl", method: "GET", path: `/${BUCKET}`, query: "acl" },
  { name: "PutBucketPolicy", method: "PUT", path: `/${BUCKET}`, query: "policy" },
  { name: "DeleteBucket", method: "DELETE", path: `/${BUCKET}` },
  { name: "ListObjectVersions", method: "GET", path: `/${BUCKET}`, query: `versions&prefix=private/${ID}/` },
  { name: "ListMultipartUploads", method: "GET", path: `/${BUCKET}`, query: "uploads" },
  {
    name: "DeleteObjects naming another identity's keys",
    method: "POST",
    path: `/${BUCKET}`,
    query: "delete",
    bodyKeys: [`private/${ID}/a`, `private/${OTHER}/b`],
  },
];

t.test("S3: the template's policies agree with cupbearer's confinement", async (t) => {
  const route = routeOf("s3");
  const prefix = resolveKeyPrefix(route.upstream.s3?.keyPrefix ?? "", { identityId: ID, sub: SUB });
  const policies = rolePolicies("AuthenticatedRole");
  // The basic flow adds cupbearer's session policy: AWS allows what both allow.
  const session = JSON.parse(s3SessionPolicy(prefix)) as PolicyDocument;
  const decide = (c: S3Case) =>
    checkS3Request(
      { method: c.method, path: c.path, query: c.query ?? "", copySource: c.copySource },
      prefix,
      "path",
    );

  for (const c of S3_ALLOWED) {
    t.strictSame(decide(c), { allow: true }, `cupbearer lets through: ${c.name}`);
    const needs = s3Authorizations(c, signedIn(ID));
    if (c.iamStricter === undefined) {
      t.ok(iamAllows(policies, needs), `the role allows: ${c.name}`);
      t.ok(iamAllows([session], needs), `the basic flow's session policy allows: ${c.name}`);
    } else {
      t.notOk(iamAllows(policies, needs), `the role denies (${c.iamStricter}): ${c.name}`);
    }
    // The same request by another identity: IAM denies it (its prefix is not this one).
    t.notOk(
      iamAllows(policies, s3Authorizations(c, signedIn(OTHER))),
      `the role denies another identity: ${c.name}`,
    );
  }
  for (const c of S3_REFUSED) {
    const decision = decide(c);
    t.equal(decision.allow, false, `cupbearer refuses: ${c.name}`);
    t.not(
      !decision.allow && decision.reason,
      "bad_request",
      `refused by confinement, not as malformed: ${c.name}`,
    );
    t.notOk(iamAllows(policies, s3Authorizations(c, signedIn(ID))), `the role denies: ${c.name}`);
  }
});

// ---------------------------------------------------------------------------------------------
// DynamoDB: the authorization a request needs, with dynamodb:LeadingKeys read the way DynamoDB
// reads it (the partition key's value in Key/Item, or in the Query's key condition).

interface DynamoCase {
  name: string;
  operation: string;
  body: Record<string, unknown>;
  iamStricter?: string;
}

function hashKeyName(): string {
  const schema = properties("Table").KeySchema as Array<{ AttributeName: string; KeyType: string }>;
  const hash = schema.find((k) => k.KeyType === "HASH");
  if (hash === undefined) throw new Error("the table has no partition key");
  return hash.AttributeName;
}

function dynamoAuthorization(c: DynamoCase, caller: Record<string, string | string[]>): IamRequest {
  const table = String(c.body.TableName ?? "");
  const resource = table.startsWith("arn:") ? table : `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${table}`;
  const action = c.operation === "ExecuteStatement" ? "dynamodb:PartiQLSelect" : `dynamodb:${c.operation}`;
  const pk = hashKeyName();
  const item = (c.body.Key ?? c.body.Item) as Record<string, { S?: string }> | undefined;
  let leading: string[] = [];
  if (item?.[pk]?.S !== undefined) leading = [item[pk].S];
  const condition = c.body.KeyConditionExpression;
  if (typeof condition === "string") {
    const m = /^\s*(\S+)\s*=\s*(:\w+)/.exec(condition);
    const values = c.body.ExpressionAttributeValues as Record<string, { S?: string }> | undefined;
    if (m?.[1] === pk && values?.[m[2] ?? ""]?.S !== undefined) leading = [values[m[2] ?? ""]?.S ?? ""];
  }
  return {
    action,
    resource,
    context: leading.length > 0 ? { ...caller, "dynamodb:LeadingKeys": leading } : caller,
  };
}

const pk = { identityId: { S: ID }, orderId: { S: "o-1" } };
const DYNAMO_ALLOWED: DynamoCase[] = [
  { name: "GetItem of own item", operation: "GetItem", body: { TableName: "Orders", Key: pk } },
  {
    name: "PutItem of own item",
    operation: "PutItem",
    body: { TableName: "Orders", Item: { ...pk, total: { N: "3" } } },
  },
  {
    name: "Query of own items",
    operation: "Query",
    body: {
      TableName: "Orders",
      KeyConditionExpression: "identityId = :id",
      ExpressionAttributeValues: { ":id": { S: ID } },
    },
  },
  {
    name: "GetItem of another identity's item",
    operation: "GetItem",
    body: { TableName: "Orders", Key: { identityId: { S: OTHER }, orderId: { S: "o-1" } } },
    iamStricter: "cupbearer checks tables and operations; IAM's dynamodb:LeadingKeys also checks the item",
  },
  {
    name: "Query without a partition key condition",
    operation: "Query",
    body: { TableName: "Orders", IndexName: "byTotal", KeyConditionExpression: "total = :t" },
    iamStricter: "no leading key to check: the Null condition denies it",
  },
];
const DYNAMO_REFUSED: DynamoCase[] = [
  { name: "another table", operation: "GetItem", body: { TableName: "Secrets", Key: pk } },
  {
    name: "Orders of another account, by ARN",
    operation: "GetItem",
    body: { TableName: "arn:aws:dynamodb:eu-west-1:999999999999:table/Orders", Key: pk },
  },
  { name: "DeleteItem (not in operations)", operation: "DeleteItem", body: { TableName: "Orders", Key: pk } },
  { name: "Scan", operation: "Scan", body: { TableName: "Orders" } },
  { name: "DeleteTable", operation: "DeleteTable", body: { TableName: "Orders" } },
  { name: "BatchGetItem", operation: "BatchGetItem", body: { RequestItems: { Orders: { Keys: [pk] } } } },
  { name: "PartiQL", operation: "ExecuteStatement", body: { Statement: 'SELECT * FROM "Orders"' } },
];

t.test("DynamoDB: the template's policies agree with cupbearer's allow-lists", async (t) => {
  const rules = routeOf("dynamodb").upstream.dynamodb;
  const sets = {
    ...(rules?.tables ? { tables: new Set(rules.tables) } : {}),
    ...(rules?.operations ? { operations: new Set(rules.operations) } : {}),
  };
  const policies = rolePolicies("AuthenticatedRole");
  const decide = (c: DynamoCase) => checkDynamoDbRequest(`DynamoDB_20120810.${c.operation}`, c.body, sets);
  for (const c of DYNAMO_ALLOWED) {
    t.strictSame(decide(c), { allow: true }, `cupbearer lets through: ${c.name}`);
    const decision = evaluate(policies, dynamoAuthorization(c, signedIn(ID)));
    if (c.iamStricter === undefined) t.equal(decision, "allow", `the role allows: ${c.name}`);
    else t.not(decision, "allow", `the role denies (${c.iamStricter}): ${c.name}`);
    if (c.iamStricter === undefined)
      t.not(
        evaluate(policies, dynamoAuthorization(c, signedIn(OTHER))),
        "allow",
        `not for another identity: ${c.name}`,
      );
  }
  for (const c of DYNAMO_REFUSED) {
    const decision = decide(c);
    t.equal(decision.allow, false, `cupbearer refuses: ${c.name}`);
    t.not(!decision.allow && decision.reason, "bad_request", `refused by its allow-lists: ${c.name}`);
    t.not(evaluate(policies, dynamoAuthorization(c, signedIn(ID))), "allow", `the role denies: ${c.name}`);
  }
});

t.test("docs/aws-setup.md names the template's parameters and outputs as they are", async (t) => {
  const guide = readFileSync(`${ROOT}docs/aws-setup.md`, "utf8");
  const overrides = /--parameter-overrides ([^\n]+)/.exec(guide)?.[1]?.trim().split(/\s+/) ?? [];
  t.ok(overrides.length > 0, "the deploy command sets parameters");
  for (const o of overrides) {
    const [name = "", value = ""] = o.split("=");
    const p = template.Parameters?.[name];
    t.ok(p, `${name} is a parameter`);
    if (p?.AllowedValues !== undefined) t.ok(p.AllowedValues.includes(value), `${name}=${value} is allowed`);
  }
  for (const name of Object.keys(template.Parameters ?? {}))
    t.match(guide, `\`${name}\``, `the guide explains ${name}`);
  for (const name of ["UserPoolId", "AppClientId", "IdentityPoolId", "BucketName", "TableName"]) {
    t.ok(template.Outputs?.[name], `output ${name} exists`);
    t.match(guide, `\`${name}\``, `the guide names output ${name}`);
  }
});
