import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parseConfigText } from "../../src/config/load.js";
import { parseConfig } from "../../src/config/schema.js";
import type { AwsUpstreamConfig, Config, IdentityPoolConfig } from "../../src/config/types.js";
import { configEdits, REMOVE } from "../support/config-edits.js";

const POOL_ID = "eu-west-1:11111111-2222-3333-4444-555555555555";
const ADMIN_ROLE = "arn:aws:iam::123456789012:role/files-admin";
const USER_ROLE = "arn:aws:iam::123456789012:role/files-user";

/** The example, with the issuer `pool` it names; each case edits a fresh copy. */
const EXAMPLE = {
  issuers: [
    {
      id: "pool",
      cognito: { region: "eu-west-1", userPoolId: "eu-west-1_AbCdEf123" },
      clientIds: ["1example23456789"],
    },
  ],
  identityPools: [
    {
      id: "main",
      identityPoolId: POOL_ID,
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:4700",
      flow: "enhanced",
      roles: { byGroup: { admin: ADMIN_ROLE } },
      allowGuests: false,
    },
  ],
  routes: [
    {
      id: "files",
      match: { pathPrefix: "/files" },
      stripPrefix: true,
      upstream: {
        url: "https://s3.eu-west-1.amazonaws.com",
        aws: { service: "s3", region: "eu-west-1", identityPool: "main" },
        s3: { keyPrefix: "private/{identityId}/" },
      },
      auth: { mode: "required", issuers: ["pool"], tokenUse: "id" },
    },
    {
      id: "table",
      match: { pathPrefix: "/dynamo" },
      upstream: {
        url: "https://dynamodb.eu-west-1.amazonaws.com",
        aws: { service: "dynamodb", region: "eu-west-1", identityPool: "main" },
        dynamodb: { tables: ["Orders"], operations: ["GetItem", "PutItem", "Query"] },
      },
      auth: { mode: "required", tokenUse: "id" },
    },
  ],
};

const { edited, check, accepts } = configEdits(EXAMPLE);

t.test("the issue's example parses and gets the defaults", async (t) => {
  const config: Config = parseConfig(edited([]));
  const pool: IdentityPoolConfig | undefined = config.identityPools[0];
  t.strictSame(pool, {
    id: "main",
    identityPoolId: POOL_ID,
    region: "eu-west-1",
    endpoint: "http://127.0.0.1:4700",
    flow: "enhanced",
    roles: { byGroup: { admin: ADMIN_ROLE } },
    allowGuests: false,
    timeoutMs: 5000,
    cacheMaxEntries: 10_000,
  });
  const files = config.routes[0];
  const aws: AwsUpstreamConfig | undefined = files?.upstream.aws;
  t.strictSame(aws, { service: "s3", region: "eu-west-1", identityPool: "main", maxBodyBytes: 16_777_216 });
  t.strictSame(files?.upstream.s3, { keyPrefix: "private/{identityId}/" });
  t.equal(files?.auth.forwardToken, undefined, "forwardToken has no default");
  t.strictSame(config.routes[1]?.upstream.dynamodb, {
    tables: ["Orders"],
    operations: ["GetItem", "PutItem", "Query"],
  });
});

t.test("the smallest identity pool and upstreams get every default", async (t) => {
  const config = parseConfig(
    edited([
      ["identityPools.0", { id: "main", identityPoolId: POOL_ID, region: "eu-west-1" }],
      ["routes.0.upstream.s3", {}],
      ["routes.1.upstream.dynamodb", {}],
    ]),
  );
  t.strictSame(config.identityPools[0], {
    id: "main",
    identityPoolId: POOL_ID,
    region: "eu-west-1",
    flow: "enhanced",
    roles: { byGroup: {} },
    allowGuests: false,
    timeoutMs: 5000,
    cacheMaxEntries: 10_000,
  });
  t.strictSame(config.routes[0]?.upstream.s3, {});
  t.strictSame(config.routes[1]?.upstream.dynamodb, {});
  const none = parseConfig(
    edited([
      ["identityPools", REMOVE],
      ["routes", [{ id: "r", upstream: "http://127.0.0.1:1" }]],
    ]),
  );
  t.strictSame(none.identityPools, [], "identityPools defaults to an empty list");
  t.equal(none.routes[0]?.upstream.aws, undefined, "a plain route has no aws");
});

t.test("values from the environment are converted", async (t) => {
  const config = parseConfig(
    edited([
      ["identityPools.0.allowGuests", "true"],
      ["identityPools.0.timeoutMs", "250"],
      ["identityPools.0.cacheMaxEntries", "7"],
      ["routes.1.upstream.aws.maxBodyBytes", "0"],
    ]),
  );
  t.match(config.identityPools[0], { allowGuests: true, timeoutMs: 250, cacheMaxEntries: 7 });
  t.equal(config.routes[1]?.upstream.aws?.maxBodyBytes, 0);
});

t.test("identity pool keys", async (t) => {
  const poolIdWhy = "expected an identity pool id like eu-west-1:11111111-2222-3333-4444-555555555555";
  const arnWhy = "expected an IAM role ARN like arn:aws:iam::123456789012:role/name";
  check(t, [
    ["not a list", [["identityPools", { main: {} }]], ["identityPools: expected a list of identity pools"]],
    [
      "bad id",
      [["identityPools.0.id", "-main"]],
      [
        "identityPools[0].id: expected an id: letters, digits, '.', '_' or '-', at most 64 characters",
        // The route's reference cannot be judged while a pool id is unusable: nothing more.
      ],
    ],
    ["missing id", [["identityPools.0.id", REMOVE]], ["identityPools[0].id: required"]],
    [
      "missing pool id",
      [["identityPools.0.identityPoolId", REMOVE]],
      ["identityPools[0].identityPoolId: required"],
    ],
    ["missing region", [["identityPools.0.region", REMOVE]], ["identityPools[0].region: required"]],
    [
      "pool id not a string",
      [["identityPools.0.identityPoolId", 5]],
      ["identityPools[0].identityPoolId: expected an identity pool id"],
    ],
    [
      "pool id without region",
      [["identityPools.0.identityPoolId", "11111111-2222-3333-4444-555555555555"]],
      [`identityPools[0].identityPoolId: ${poolIdWhy}`],
    ],
    [
      "pool id with upper-case hex",
      [["identityPools.0.identityPoolId", "eu-west-1:11111111-2222-3333-4444-55555555555A"]],
      [`identityPools[0].identityPoolId: ${poolIdWhy}`],
    ],
    [
      "pool id with a short uuid",
      [["identityPools.0.identityPoolId", "eu-west-1:1111-2222-3333-4444-555555555555"]],
      [`identityPools[0].identityPoolId: ${poolIdWhy}`],
    ],
    [
      "pool id with an underscore",
      [["identityPools.0.identityPoolId", "eu-west-1_11111111-2222-3333-4444-555555555555"]],
      [`identityPools[0].identityPoolId: ${poolIdWhy}`],
    ],
    [
      "pool in another region",
      [["identityPools.0.identityPoolId", "us-east-1:11111111-2222-3333-4444-555555555555"]],
      ["identityPools[0].identityPoolId: belongs to region us-east-1, not eu-west-1"],
    ],
    [
      "bad region (no second message comparing it with the pool's region)",
      [["identityPools.0.region", "Europe"]],
      ["identityPools[0].region: expected a region like eu-west-1"],
    ],
    [
      "endpoint not a URL",
      [["identityPools.0.endpoint", "127.0.0.1:4700"]],
      ["identityPools[0].endpoint: expected an http:// or https:// URL without credentials"],
    ],
    [
      "endpoint with a query",
      [["identityPools.0.endpoint", "https://cognito.example/?x=1"]],
      ["identityPools[0].endpoint: must not have a query or fragment"],
    ],
    [
      "endpoint over plain http to another host",
      [["identityPools.0.endpoint", "http://cognito-identity.internal:4700"]],
      [
        "identityPools[0].endpoint: plain http is allowed only for loopback hosts: tokens and credentials cross this connection",
      ],
    ],
    ["flow", [["identityPools.0.flow", "classic"]], ["identityPools[0].flow: expected enhanced or basic"]],
    ["roles not a map", [["identityPools.0.roles", "admin"]], ["identityPools[0].roles: expected a mapping"]],
    [
      "unknown key in roles",
      [["identityPools.0.roles.default", USER_ROLE]],
      ["identityPools[0].roles.default: unknown key"],
    ],
    [
      "byGroup not a map",
      [["identityPools.0.roles.byGroup", [ADMIN_ROLE]]],
      ["identityPools[0].roles.byGroup: expected a map of group names to role ARNs"],
    ],
    [
      "byGroup role not an ARN",
      [["identityPools.0.roles.byGroup", { admin: "files-admin", staff: USER_ROLE }]],
      [`identityPools[0].roles.byGroup.admin: ${arnWhy}`],
    ],
    [
      "a user, not a role",
      [["identityPools.0.roles.byGroup.admin", "arn:aws:iam::123456789012:user/admin"]],
      [`identityPools[0].roles.byGroup.admin: ${arnWhy}`],
    ],
    [
      "an account id that is too short",
      [["identityPools.0.roles.byGroup.admin", "arn:aws:iam::12345:role/admin"]],
      [`identityPools[0].roles.byGroup.admin: ${arnWhy}`],
    ],
    [
      "a role ARN that is not a string",
      [["identityPools.0.roles.byGroup.admin", 5]],
      ["identityPools[0].roles.byGroup.admin: expected a role ARN"],
    ],
    [
      "allowGuests",
      [["identityPools.0.allowGuests", "yes"]],
      ["identityPools[0].allowGuests: expected true or false"],
    ],
    [
      "timeoutMs too small",
      [["identityPools.0.timeoutMs", 99]],
      ["identityPools[0].timeoutMs: expected a number from 100 to 60000"],
    ],
    [
      "timeoutMs too large",
      [["identityPools.0.timeoutMs", 60_001]],
      ["identityPools[0].timeoutMs: expected a number from 100 to 60000"],
    ],
    [
      "cacheMaxEntries zero",
      [["identityPools.0.cacheMaxEntries", 0]],
      ["identityPools[0].cacheMaxEntries: expected a number from 1 to 1000000"],
    ],
    ["unknown key", [["identityPools.0.userPoolId", "x"]], ["identityPools[0].userPoolId: unknown key"]],
  ]);
  accepts(t, [
    ["https endpoint", [["identityPools.0.endpoint", "https://cognito-identity.eu-west-1.amazonaws.com"]]],
    ["localhost endpoint", [["identityPools.0.endpoint", "http://localhost:4700"]]],
    ["IPv6 loopback endpoint", [["identityPools.0.endpoint", "http://[::1]:4700"]]],
    ["no endpoint", [["identityPools.0.endpoint", REMOVE]]],
    [
      "other partitions and role paths",
      [
        ["identityPools.0.identityPoolId", "us-gov-west-1:11111111-2222-3333-4444-555555555555"],
        ["identityPools.0.region", "us-gov-west-1"],
        ["identityPools.0.roles.byGroup.admin", "arn:aws-us-gov:iam::123456789012:role/team/a/files+admin@x"],
      ],
    ],
  ]);
});

t.test("basicFlowDefault: required with the basic flow, refused with the enhanced one", async (t) => {
  check(t, [
    [
      "basic without it",
      [["identityPools.0.flow", "basic"]],
      [
        "identityPools[0].roles.basicFlowDefault: required with flow: basic, for callers whose groups have no role in byGroup",
      ],
    ],
    [
      "basic without roles at all",
      [
        ["identityPools.0.flow", "basic"],
        ["identityPools.0.roles", REMOVE],
      ],
      [
        "identityPools[0].roles.basicFlowDefault: required with flow: basic, for callers whose groups have no role in byGroup",
      ],
    ],
    [
      "basic with roles of the wrong type (no second message)",
      [
        ["identityPools.0.flow", "basic"],
        ["identityPools.0.roles", [USER_ROLE]],
      ],
      ["identityPools[0].roles: expected a mapping"],
    ],
    [
      "enhanced with it",
      [["identityPools.0.roles.basicFlowDefault", USER_ROLE]],
      [
        "identityPools[0].roles.basicFlowDefault: basic flow only: the enhanced flow falls back to the identity pool's own role settings",
      ],
    ],
    [
      "enhanced by default, with it",
      [
        ["identityPools.0.flow", REMOVE],
        ["identityPools.0.roles.basicFlowDefault", USER_ROLE],
      ],
      [
        "identityPools[0].roles.basicFlowDefault: basic flow only: the enhanced flow falls back to the identity pool's own role settings",
      ],
    ],
    [
      "not an ARN (no second message)",
      [
        ["identityPools.0.flow", "basic"],
        ["identityPools.0.roles.basicFlowDefault", "files-user"],
      ],
      [
        "identityPools[0].roles.basicFlowDefault: expected an IAM role ARN like arn:aws:iam::123456789012:role/name",
      ],
    ],
  ]);
  const config = parseConfig(
    edited([
      ["identityPools.0.flow", "basic"],
      ["identityPools.0.roles.basicFlowDefault", USER_ROLE],
    ]),
  );
  t.strictSame(config.identityPools[0]?.roles, {
    byGroup: { admin: ADMIN_ROLE },
    basicFlowDefault: USER_ROLE,
  });
});

t.test("duplicate identity pool ids", async (t) => {
  const second = { id: "main", identityPoolId: POOL_ID, region: "eu-west-1" };
  check(t, [
    [
      "same id twice",
      [["identityPools.1", second]],
      ['identityPools[1].id: duplicate identity pool id "main"'],
    ],
  ]);
});

t.test("upstream.aws keys", async (t) => {
  const serviceWhy = "expected a service signing name like s3 or dynamodb";
  check(t, [
    ["aws not a map", [["routes.0.upstream.aws", "s3"]], ["routes[0].upstream.aws: expected a mapping"]],
    [
      "service missing",
      [["routes.0.upstream.aws.service", REMOVE]],
      ["routes[0].upstream.aws.service: required"],
    ],
    [
      "service in capitals",
      [["routes.0.upstream.aws.service", "S3"]],
      [`routes[0].upstream.aws.service: ${serviceWhy}`],
    ],
    [
      "service with a dot",
      [["routes.1.upstream.aws.service", "dynamodb.aws"]],
      [`routes[1].upstream.aws.service: ${serviceWhy}`],
    ],
    [
      "service not a string",
      [["routes.1.upstream.aws.service", 3]],
      [`routes[1].upstream.aws.service: ${serviceWhy}`],
    ],
    [
      "service too long",
      [["routes.1.upstream.aws.service", "a".repeat(64)]],
      [`routes[1].upstream.aws.service: ${serviceWhy}`],
    ],
    [
      "region",
      [["routes.0.upstream.aws.region", "eu_west_1"]],
      ["routes[0].upstream.aws.region: expected a region like eu-west-1"],
    ],
    [
      "region missing",
      [["routes.0.upstream.aws.region", REMOVE]],
      ["routes[0].upstream.aws.region: required"],
    ],
    [
      "identityPool missing",
      [["routes.0.upstream.aws.identityPool", REMOVE]],
      ["routes[0].upstream.aws.identityPool: required"],
    ],
    [
      "identityPool not an id (no second message)",
      [["routes.0.upstream.aws.identityPool", "main pool"]],
      [
        "routes[0].upstream.aws.identityPool: expected an id: letters, digits, '.', '_' or '-', at most 64 characters",
      ],
    ],
    [
      "maxBodyBytes above 1 GiB",
      [["routes.1.upstream.aws.maxBodyBytes", 1_073_741_825]],
      ["routes[1].upstream.aws.maxBodyBytes: expected a number from 0 to 1073741824"],
    ],
    [
      "maxBodyBytes negative",
      [["routes.1.upstream.aws.maxBodyBytes", -1]],
      ["routes[1].upstream.aws.maxBodyBytes: expected a number from 0 to 1073741824"],
    ],
    [
      "unknown key",
      [["routes.0.upstream.aws.profile", "default"]],
      ["routes[0].upstream.aws.profile: unknown key"],
    ],
  ]);
  accepts(t, [
    [
      "another service",
      [
        [
          "routes.1",
          {
            id: "sqs",
            upstream: {
              url: "https://sqs.eu-west-1.amazonaws.com",
              aws: { service: "sqs", region: "eu-west-1", identityPool: "main" },
            },
            auth: { tokenUse: "id" },
          },
        ],
      ],
    ],
    [
      "service with a dash, region of another pool",
      [
        [
          "routes.1.upstream",
          {
            url: "https://x.example",
            aws: { service: "execute-api", region: "us-east-1", identityPool: "main" },
          },
        ],
      ],
    ],
  ]);
});

t.test("upstream.s3 keys", async (t) => {
  const at = "routes[0].upstream.s3.keyPrefix";
  const only = "the only placeholders are {identityId} and {sub}";
  const slash = "must end with /: a prefix that ends inside a name would also match longer names";
  check(t, [
    ["s3 not a map", [["routes.0.upstream.s3", "private/"]], ["routes[0].upstream.s3: expected a mapping"]],
    ["empty", [["routes.0.upstream.s3.keyPrefix", ""]], [`${at}: must not be empty`]],
    ["not a string", [["routes.0.upstream.s3.keyPrefix", 5]], [`${at}: expected a key prefix`]],
    [
      "leading slash",
      [["routes.0.upstream.s3.keyPrefix", "/private/{identityId}/"]],
      [`${at}: must not start with /: object keys are written without one`],
    ],
    ["ends inside a name", [["routes.0.upstream.s3.keyPrefix", "private/{identityId}"]], [`${at}: ${slash}`]],
    [
      "a placeholder inside a folder name",
      [["routes.0.upstream.s3.keyPrefix", "private/{sub}-files/"]],
      [`${at}: {sub} must be followed by /: its value must be a whole folder name`],
    ],
    [
      "two placeholders in one folder name",
      [["routes.0.upstream.s3.keyPrefix", "{sub}{identityId}/"]],
      [`${at}: {sub} must be followed by /: its value must be a whole folder name`],
    ],
    [
      "unknown placeholder",
      [["routes.0.upstream.s3.keyPrefix", "private/{userId}/"]],
      [`${at}: has an unknown placeholder "{userId}": ${only}`],
    ],
    [
      "placeholders are case-sensitive",
      [["routes.0.upstream.s3.keyPrefix", "{IdentityId}/"]],
      [`${at}: has an unknown placeholder "{IdentityId}": ${only}`],
    ],
    [
      "empty braces",
      [["routes.0.upstream.s3.keyPrefix", "a/{}/"]],
      [`${at}: has an unknown placeholder "{}": ${only}`],
    ],
    [
      "stray opening brace",
      [["routes.0.upstream.s3.keyPrefix", "a{/{sub}/"]],
      [`${at}: has a stray "{": ${only}`],
    ],
    [
      "stray closing brace",
      [["routes.0.upstream.s3.keyPrefix", "a}/{sub}/"]],
      [`${at}: has a stray "}": ${only}`],
    ],
    [
      "nested braces",
      [["routes.0.upstream.s3.keyPrefix", "{{sub}}/"]],
      [`${at}: has a stray "{": ${only}`, `${at}: has a stray "}": ${only}`],
    ],
    [
      "control character",
      [["routes.0.upstream.s3.keyPrefix", "private\n/"]],
      [`${at}: must not contain control characters`],
    ],
    [
      "DEL",
      [["routes.0.upstream.s3.keyPrefix", "private\u007f/"]],
      [`${at}: must not contain control characters`],
    ],
    [
      "empty segment",
      [["routes.0.upstream.s3.keyPrefix", "private//{sub}/"]],
      [
        `${at}: must not contain empty, . or .. segments: request paths are normalized, so no key would match`,
      ],
    ],
    [
      "dot-dot segment",
      [["routes.0.upstream.s3.keyPrefix", "private/../{sub}/"]],
      [
        `${at}: must not contain empty, . or .. segments: request paths are normalized, so no key would match`,
      ],
    ],
    [
      "several mistakes in one prefix",
      [["routes.0.upstream.s3.keyPrefix", "/home/{user}"]],
      [
        `${at}: must not start with /: object keys are written without one`,
        `${at}: ${slash}`,
        `${at}: has an unknown placeholder "{user}": ${only}`,
      ],
    ],
    [
      "addressing",
      [["routes.0.upstream.s3.addressing", "dns"]],
      ["routes[0].upstream.s3.addressing: expected path or virtual"],
    ],
    [
      "unknown key",
      [["routes.0.upstream.s3.bucket", "files"]],
      ["routes[0].upstream.s3.bucket: unknown key"],
    ],
    [
      "s3 on a dynamodb route",
      [["routes.1.upstream.s3", { keyPrefix: "a/" }]],
      ["routes[1].upstream.s3: needs upstream.aws with service: s3"],
    ],
    [
      "s3 without aws",
      [["routes.0.upstream.aws", REMOVE]],
      ["routes[0].upstream.s3: needs upstream.aws with service: s3"],
    ],
  ]);
  accepts(t, [
    ["both placeholders", [["routes.0.upstream.s3.keyPrefix", "users/{sub}/{identityId}/"]]],
    ["a fixed prefix", [["routes.0.upstream.s3.keyPrefix", "shared/"]]],
    ["no prefix, virtual addressing", [["routes.0.upstream.s3", { addressing: "virtual" }]]],
    ["spaces and unicode", [["routes.0.upstream.s3.keyPrefix", "mes fichiers é/{sub}/"]]],
    [
      "dollar braces are the environment's, not placeholders",
      [["routes.0.upstream.s3.keyPrefix", "a$/{sub}/"]],
    ],
  ]);
});

t.test("upstream.dynamodb keys", async (t) => {
  const tableWhy = "expected a table name: 3 to 255 letters, digits, '_', '-' or '.'";
  check(t, [
    [
      "dynamodb not a map",
      [["routes.1.upstream.dynamodb", ["Orders"]]],
      ["routes[1].upstream.dynamodb: expected a mapping"],
    ],
    [
      "tables not a list",
      [["routes.1.upstream.dynamodb.tables", "Orders"]],
      ["routes[1].upstream.dynamodb.tables: expected a list of table names"],
    ],
    [
      "tables empty",
      [["routes.1.upstream.dynamodb.tables", []]],
      ["routes[1].upstream.dynamodb.tables: must not be empty (leave it out to allow every table)"],
    ],
    [
      "bad table names",
      [["routes.1.upstream.dynamodb.tables", ["Orders", "ab", "a b c", "x".repeat(256), 7]]],
      [
        `routes[1].upstream.dynamodb.tables[1]: ${tableWhy}`,
        `routes[1].upstream.dynamodb.tables[2]: ${tableWhy}`,
        `routes[1].upstream.dynamodb.tables[3]: ${tableWhy}`,
        "routes[1].upstream.dynamodb.tables[4]: expected a table name",
      ],
    ],
    [
      "operations not a list",
      [["routes.1.upstream.dynamodb.operations", "GetItem"]],
      ["routes[1].upstream.dynamodb.operations: expected a list of DynamoDB operation names"],
    ],
    [
      "operations empty",
      [["routes.1.upstream.dynamodb.operations", []]],
      ["routes[1].upstream.dynamodb.operations: must not be empty (leave it out to allow every operation)"],
    ],
    [
      "unknown operations",
      [["routes.1.upstream.dynamodb.operations", ["GetItem", "getitem", "DynamoDB_20120810.Query", 5]]],
      [
        'routes[1].upstream.dynamodb.operations[1]: unknown DynamoDB operation "getitem" (names are case-sensitive, like GetItem)',
        'routes[1].upstream.dynamodb.operations[2]: unknown DynamoDB operation "DynamoDB_20120810.Query" (names are case-sensitive, like GetItem)',
        "routes[1].upstream.dynamodb.operations[3]: expected a DynamoDB operation name",
      ],
    ],
    [
      "unknown key",
      [["routes.1.upstream.dynamodb.table", "Orders"]],
      ['routes[1].upstream.dynamodb.table: unknown key (did you mean "tables"?)'],
    ],
    [
      "dynamodb on an s3 route",
      [["routes.0.upstream.dynamodb", { tables: ["Orders"] }]],
      ["routes[0].upstream.dynamodb: needs upstream.aws with service: dynamodb"],
    ],
    [
      "dynamodb without aws",
      [["routes.1.upstream.aws", REMOVE]],
      ["routes[1].upstream.dynamodb: needs upstream.aws with service: dynamodb"],
    ],
    [
      "a malformed service is reported once",
      [["routes.1.upstream.aws.service", "DynamoDB"]],
      ["routes[1].upstream.aws.service: expected a service signing name like s3 or dynamodb"],
    ],
  ]);
  const every = [
    "BatchExecuteStatement",
    "BatchWriteItem",
    "DescribeKinesisStreamingDestination",
    "TransactWriteItems",
    "UpdateTimeToLive",
  ];
  const config = parseConfig(
    edited([
      ["routes.1.upstream.dynamodb.operations", every],
      ["routes.1.upstream.dynamodb.tables", ["my_table.v-2", "A".repeat(255)]],
    ]),
  );
  t.strictSame(config.routes[1]?.upstream.dynamodb?.operations, every);
});

t.test("routes with an aws upstream", async (t) => {
  check(t, [
    [
      "unknown identity pool",
      [["routes.0.upstream.aws.identityPool", "other"]],
      ['routes[0].upstream.aws.identityPool: unknown identity pool "other"'],
    ],
    [
      "no identity pools at all",
      [["identityPools", REMOVE]],
      [
        'routes[0].upstream.aws.identityPool: unknown identity pool "main"',
        'routes[1].upstream.aws.identityPool: unknown identity pool "main"',
      ],
    ],
    [
      "access tokens",
      [["routes.0.auth.tokenUse", "access"]],
      ["routes[0].auth.tokenUse: must be id or any: identity pools take ID tokens"],
    ],
    [
      "optional without guests",
      [["routes.0.auth.mode", "optional"]],
      ['routes[0].auth.mode: optional needs guests, but identity pool "main" has allowGuests: false'],
    ],
    [
      "public without guests",
      [["routes.1.auth", { mode: "public" }]],
      ['routes[1].auth.mode: public needs guests, but identity pool "main" has allowGuests: false'],
    ],
    [
      "plain http upstream",
      [["routes.0.upstream.url", "http://s3.eu-west-1.amazonaws.com"]],
      [
        "routes[0].upstream.url: must be https unless its host is loopback: signed requests carry a session token",
      ],
    ],
    [
      "claimHeaders",
      [["routes.0.auth.claimHeaders", { "x-tenant": "custom:tenant" }]],
      ["routes[0].auth.claimHeaders: has no effect on an AWS route: identity headers are never sent to AWS"],
    ],
    [
      "forwardToken: true",
      [["routes.0.auth.forwardToken", true]],
      ["routes[0].auth.forwardToken: has no effect on an AWS route: the token is never forwarded to AWS"],
    ],
    [
      "forwardToken: true on a public route",
      [
        ["identityPools.0.allowGuests", true],
        ["routes.1.auth", { mode: "public", forwardToken: "true" }],
      ],
      ["routes[1].auth.forwardToken: has no effect on an AWS route: the token is never forwarded to AWS"],
    ],
    [
      "public-route rules are reported once, as public-route rules",
      [
        ["identityPools.0.allowGuests", true],
        ["routes.1.auth", { mode: "public", tokenUse: "access", claimHeaders: { "x-a": "a" } }],
      ],
      [
        "routes[1].auth.tokenUse: has no effect on a public route",
        "routes[1].auth.claimHeaders: has no effect on a public route",
      ],
    ],
    [
      "{sub} on a public route",
      [
        ["identityPools.0.allowGuests", true],
        ["routes.0.upstream.s3.keyPrefix", "users/{sub}/"],
        ["routes.0.auth", { mode: "public" }],
      ],
      [
        "routes[0].upstream.s3.keyPrefix: has a placeholder, but every caller of a public route is a guest, and guests share one identity: use a fixed prefix",
      ],
    ],
    [
      "{identityId} on a public route (guests share one identity id)",
      [
        ["identityPools.0.allowGuests", true],
        ["routes.0.auth", { mode: "public" }],
      ],
      [
        "routes[0].upstream.s3.keyPrefix: has a placeholder, but every caller of a public route is a guest, and guests share one identity: use a fixed prefix",
      ],
    ],
    [
      "a bucket in the upstream's host with path addressing",
      [["routes.0.upstream.url", "https://my-bucket.s3.eu-west-1.amazonaws.com"]],
      ["routes[0].upstream.s3.addressing: must be virtual: the upstream's host names a bucket (bucket.s3.…)"],
    ],
    [
      "a held body larger than limits.maxHeldBodyBytes",
      [
        ["limits", { maxHeldBodyBytes: 1_048_576 }],
        ["routes.1.upstream.aws.maxBodyBytes", 2_000_000],
      ],
      ["routes[1].upstream.aws.maxBodyBytes: must not exceed limits.maxHeldBodyBytes"],
    ],
    [
      "a wrong upstream URL is reported once",
      [["routes.0.upstream.url", "ftp://s3.example"]],
      ["routes[0].upstream.url: expected an http:// or https:// URL without credentials"],
    ],
  ]);
  accepts(t, [
    ["a loopback emulator over http", [["routes.0.upstream.url", "http://127.0.0.1:4569"]]],
    ["localhost", [["routes.1.upstream.url", "http://localhost:5000"]]],
    ["tokenUse any", [["routes.0.auth.tokenUse", "any"]]],
    ["forwardToken: false", [["routes.0.auth.forwardToken", false]]],
    ["empty claimHeaders", [["routes.0.auth.claimHeaders", {}]]],
    [
      "optional with guests",
      [
        ["identityPools.0.allowGuests", true],
        ["routes.0.auth.mode", "optional"],
      ],
    ],
    [
      "access tokens on a plain route",
      [
        [
          "routes.1",
          {
            id: "api",
            upstream: "http://127.0.0.1:3000",
            auth: { tokenUse: "access", claimHeaders: { "x-t": "t" }, forwardToken: true },
          },
        ],
      ],
    ],
    [
      "a public route confined to a fixed prefix",
      [
        ["identityPools.0.allowGuests", true],
        ["routes.0.upstream.s3.keyPrefix", "public/"],
        ["routes.0.auth", { mode: "public" }],
      ],
    ],
    [
      "{sub} on an optional route (guests are refused there, signed-in callers are not)",
      [
        ["identityPools.0.allowGuests", true],
        ["routes.0.upstream.s3.keyPrefix", "users/{sub}/"],
        ["routes.0.auth.mode", "optional"],
      ],
    ],
    [
      "a pool no route uses",
      [["identityPools.1", { id: "spare", identityPoolId: POOL_ID, region: "eu-west-1" }]],
    ],
  ]);

  const guest = parseConfig(
    edited([
      ["identityPools.0.allowGuests", true],
      ["routes.1.auth", { mode: "public" }],
    ]),
  );
  t.equal(guest.routes[1]?.auth.mode, "public", "a public aws route signs as a guest");
  t.equal(guest.routes[1]?.upstream.aws?.identityPool, "main");
});

t.test("pool references wait for valid pool ids", async (t) => {
  check(t, [
    [
      "one pool id unusable: references are not judged",
      [
        ["identityPools.1", { id: 5, identityPoolId: POOL_ID, region: "eu-west-1" }],
        ["routes.0.upstream.aws.identityPool", "nope"],
      ],
      ["identityPools[1].id: expected an id"],
    ],
  ]);
});

t.test("the public-route check of forwardToken still works", async (t) => {
  const plain = {
    id: "status",
    upstream: "http://127.0.0.1:3000",
    auth: { mode: "public", forwardToken: false },
  };
  check(t, [
    [
      "forwardToken: false",
      [["routes.1", plain]],
      ["routes[1].auth.forwardToken: has no effect on a public route"],
    ],
  ]);
  accepts(t, [
    ["forwardToken: true", [["routes.1", { ...plain, auth: { mode: "public", forwardToken: true } }]]],
    ["left out", [["routes.1", { ...plain, auth: { mode: "public" } }]]],
  ]);
});

t.test("a malformed part of a route does not hide the problems of the rest of it", async (t) => {
  check(t, [
    [
      "auth not a mapping, an unknown pool",
      [
        ["routes.1.auth", "public"],
        ["routes.1.upstream.aws.identityPool", "other"],
      ],
      [
        "routes[1].auth: expected a mapping",
        'routes[1].upstream.aws.identityPool: unknown identity pool "other"',
      ],
    ],
    [
      "auth not a mapping, a plain http upstream",
      [
        ["routes.0.auth", 5],
        ["routes.0.upstream.url", "http://s3.example"],
      ],
      [
        "routes[0].auth: expected a mapping",
        "routes[0].upstream.url: must be https unless its host is loopback: signed requests carry a session token",
      ],
    ],
  ]);
});

t.test("many mistakes are reported at once", async (t) => {
  check(t, [
    [
      "shape and cross-checks across pools and routes",
      [
        ["identityPools.0.identityPoolId", "us-east-1:11111111-2222-3333-4444-555555555555"],
        ["identityPools.0.endpoint", "http://cognito.internal"],
        ["identityPools.0.roles.basicFlowDefault", USER_ROLE],
        ["identityPools.0.timeoutMs", 0],
        [
          "identityPools.1",
          {
            id: "main",
            identityPoolId: POOL_ID,
            region: "eu-west-1",
            flow: "basic",
            roles: { byGroup: { a: "nope" } },
          },
        ],
        ["routes.0.upstream.url", "http://s3.example"],
        ["routes.0.upstream.s3.keyPrefix", "/x"],
        ["routes.0.upstream.dynamodb", { tables: ["Orders"] }],
        [
          "routes.0.auth",
          { mode: "optional", tokenUse: "access", forwardToken: true, claimHeaders: { "x-a": "a" } },
        ],
        ["routes.1.upstream.aws.identityPool", "other"],
        ["routes.1.upstream.aws.service", "Dynamo"],
        ["routes.1.upstream.dynamodb.operations", ["Get"]],
      ],
      [
        "identityPools[0].timeoutMs: expected a number from 100 to 60000",
        "identityPools[1].roles.byGroup.a: expected an IAM role ARN like arn:aws:iam::123456789012:role/name",
        "routes[0].upstream.s3.keyPrefix: must not start with /: object keys are written without one",
        "routes[0].upstream.s3.keyPrefix: must end with /: a prefix that ends inside a name would also match longer names",
        "routes[1].upstream.aws.service: expected a service signing name like s3 or dynamodb",
        'routes[1].upstream.dynamodb.operations[0]: unknown DynamoDB operation "Get" (names are case-sensitive, like GetItem)',
        "identityPools[0].identityPoolId: belongs to region us-east-1, not eu-west-1",
        "identityPools[0].endpoint: plain http is allowed only for loopback hosts: tokens and credentials cross this connection",
        "identityPools[0].roles.basicFlowDefault: basic flow only: the enhanced flow falls back to the identity pool's own role settings",
        'identityPools[1].id: duplicate identity pool id "main"',
        "identityPools[1].roles.basicFlowDefault: required with flow: basic, for callers whose groups have no role in byGroup",
        "routes[0].upstream.dynamodb: needs upstream.aws with service: dynamodb",
        "routes[0].upstream.url: must be https unless its host is loopback: signed requests carry a session token",
        'routes[0].auth.mode: optional needs guests, but identity pool "main" has allowGuests: false',
        "routes[0].auth.forwardToken: has no effect on an AWS route: the token is never forwarded to AWS",
        "routes[0].auth.tokenUse: must be id or any: identity pools take ID tokens",
        "routes[0].auth.claimHeaders: has no effect on an AWS route: identity headers are never sent to AWS",
        'routes[1].upstream.aws.identityPool: unknown identity pool "other"',
      ],
    ],
  ]);
});

t.test("config/README.md's identity pool and AWS route examples parse together", async (t) => {
  const doc = readFileSync(join(import.meta.dirname, "../../config/README.md"), "utf8");
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const pools = blocks.find((b) => b.startsWith("identityPools:"));
  const routes = blocks.find((b) => b.startsWith("routes:") && b.includes("aws:"));
  t.ok(pools !== undefined && routes !== undefined, "both examples are there");
  const issuers =
    "issuers:\n  - id: pool\n    cognito: { region: eu-west-1, userPoolId: eu-west-1_AbCdEf123 }\n    anyClient: true\n";
  const config = parseConfigText(`${issuers}${pools}${routes}`, {});
  t.strictSame(
    config.routes.map((r) => r.upstream.aws?.service),
    ["s3", "dynamodb"],
  );
  t.equal(config.identityPools[0]?.flow, "enhanced");
});
