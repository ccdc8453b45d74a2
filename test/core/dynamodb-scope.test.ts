import fc from "fast-check";
import t from "tap";
import { checkDynamoDbRequest, type DynamoDbDecision } from "../../src/core/dynamodb-scope.js";

const allow: DynamoDbDecision = { allow: true };
const deny = (reason: string) => ({ allow: false, reason });

const target = (operation: string) => `DynamoDB_20120810.${operation}`;
const arn = (resource: string) => `arn:aws:dynamodb:eu-west-1:123456789012:${resource}`;

const TABLES = { tables: new Set(["Orders", "Users"]) };
const OPERATIONS = { operations: new Set(["GetItem", "PutItem", "Query", "ListTables"]) };

t.test("no rules: everything passes, even what could not be read", async (t) => {
  t.strictSame(checkDynamoDbRequest(undefined, undefined, {}), allow);
  t.strictSame(checkDynamoDbRequest("nonsense", "not an object", {}), allow);
  t.strictSame(checkDynamoDbRequest(target("ExecuteStatement"), { Statement: "SELECT * FROM x" }, {}), allow);
});

t.test("target and body", async (t) => {
  const cases: Array<[name: string, target: string | undefined, body: unknown, expected: object]> = [
    ["missing target", undefined, { TableName: "Orders" }, deny("bad_request")],
    ["empty target", "", { TableName: "Orders" }, deny("bad_request")],
    ["no dot", "GetItem", { TableName: "Orders" }, deny("bad_request")],
    ["empty operation", "DynamoDB_20120810.", { TableName: "Orders" }, deny("bad_request")],
    ["empty service", ".GetItem", { TableName: "Orders" }, deny("bad_request")],
    ["space", "DynamoDB_20120810.Get Item", { TableName: "Orders" }, deny("bad_request")],
    ["trailing newline", "DynamoDB_20120810.GetItem\n", { TableName: "Orders" }, deny("bad_request")],
    ["body null", target("GetItem"), null, deny("bad_request")],
    ["body array", target("GetItem"), [{ TableName: "Orders" }], deny("bad_request")],
    ["body string", target("GetItem"), '{"TableName":"Orders"}', deny("bad_request")],
    ["body undefined", target("GetItem"), undefined, deny("bad_request")],
    ["well-formed", target("GetItem"), { TableName: "Orders" }, allow],
    // Exactly DynamoDB_20120810.<Operation>: nothing else is read as an operation.
    ["dotted prefix", "Some.Prefix_1.GetItem", { TableName: "Orders" }, deny("bad_request")],
    ["operation hidden in the prefix", "X.DeleteTable.GetItem", { TableName: "Orders" }, deny("bad_request")],
    ["two operations", "DynamoDB_20120810.DeleteTable.GetItem", { TableName: "Orders" }, deny("bad_request")],
    ["other version", "DynamoDB_20111205.GetItem", { TableName: "Orders" }, deny("bad_request")],
    ["prefix in other case", "dynamodb_20120810.GetItem", { TableName: "Orders" }, deny("bad_request")],
    ["Streams prefix", "DynamoDBStreams_20120810.GetItem", { TableName: "Orders" }, deny("bad_request")],
    ["leading space", " DynamoDB_20120810.GetItem", { TableName: "Orders" }, deny("bad_request")],
    ["digit in the operation", "DynamoDB_20120810.GetItem2", { TableName: "Orders" }, deny("bad_request")],
  ];
  for (const [name, tgt, body, expected] of cases) {
    t.strictSame(
      checkDynamoDbRequest(tgt, body, { ...TABLES, ...OPERATIONS }),
      expected,
      `both rules: ${name}`,
    );
    t.strictSame(checkDynamoDbRequest(tgt, body, OPERATIONS), expected, `operations only: ${name}`);
    t.strictSame(checkDynamoDbRequest(tgt, body, TABLES), expected, `tables only: ${name}`);
  }
});

t.test("operations allow-list", async (t) => {
  const cases: Array<[op: string, expected: object]> = [
    ["GetItem", allow],
    ["PutItem", allow],
    ["Query", allow],
    ["DeleteItem", deny("operation")],
    ["Scan", deny("operation")],
    ["getitem", deny("operation")],
    ["GETITEM", deny("operation")],
    ["ExecuteStatement", deny("operation")],
  ];
  for (const [op, expected] of cases) {
    t.strictSame(checkDynamoDbRequest(target(op), { TableName: "Secret" }, OPERATIONS), expected, op);
  }
  // The operations rule comes first; then the tables rule.
  t.strictSame(
    checkDynamoDbRequest(target("Scan"), { TableName: "Orders" }, { ...TABLES, ...OPERATIONS }),
    deny("operation"),
  );
  t.strictSame(
    checkDynamoDbRequest(target("GetItem"), { TableName: "Secret" }, { ...TABLES, ...OPERATIONS }),
    deny("table"),
  );
  t.strictSame(
    checkDynamoDbRequest(target("GetItem"), { TableName: "Orders" }, { ...TABLES, ...OPERATIONS }),
    allow,
  );
  t.strictSame(
    checkDynamoDbRequest(target("GetItem"), {}, { operations: new Set<string>() }),
    deny("operation"),
    "empty list",
  );
});

t.test("tables allow-list: every table-bearing shape", async (t) => {
  const cases: Array<[name: string, op: string, body: Record<string, unknown>, expected: object]> = [
    // TableName.
    ["GetItem", "GetItem", { TableName: "Orders", Key: {} }, allow],
    ["GetItem other table", "GetItem", { TableName: "Secret", Key: {} }, deny("table")],
    ["table names are exact", "GetItem", { TableName: "orders" }, deny("table")],
    ["look-alike", "GetItem", { TableName: "Orders2" }, deny("table")],
    ["empty name", "GetItem", { TableName: "" }, deny("table")],
    ["Query", "Query", { TableName: "Users", KeyConditionExpression: "pk = :p" }, allow],
    ["Scan", "Scan", { TableName: "Secret" }, deny("table")],
    ["CreateTable", "CreateTable", { TableName: "Orders", KeySchema: [] }, allow],
    ["DeleteTable", "DeleteTable", { TableName: "Secret" }, deny("table")],
    ["no table named", "GetItem", { Key: {} }, deny("table")],
    ["TableName not a string", "GetItem", { TableName: ["Orders"] }, deny("bad_request")],
    ["TableName number", "GetItem", { TableName: 1 }, deny("bad_request")],
    ["TableName null", "GetItem", { TableName: null }, deny("bad_request")],
    // Attribute values are never mistaken for table names.
    [
      "item attribute called TableName",
      "PutItem",
      { TableName: "Orders", Item: { TableName: { S: "Secret" } } },
      allow,
    ],
    // TableName as an ARN (DynamoDB accepts both): refused, as its account cannot be checked.
    ["TableName ARN", "GetItem", { TableName: arn("table/Orders") }, deny("table")],
    [
      "TableName ARN in another account",
      "GetItem",
      { TableName: "arn:aws:dynamodb:eu-west-1:999999999999:table/Orders" },
      deny("table"),
    ],
    [
      "TableName ARN, prefix in other case",
      "GetItem",
      { TableName: `ARN${arn("table/Orders").slice(3)}` },
      deny("table"),
    ],
    ["TableName ARN other", "GetItem", { TableName: arn("table/Secret") }, deny("table")],
    ["TableName ARN not a table", "GetItem", { TableName: arn("global-table/Orders") }, deny("table")],
    ["TableName ARN of another service", "GetItem", { TableName: "arn:aws:s3:::Orders" }, deny("table")],
    ["TableName malformed ARN", "GetItem", { TableName: "arn:Orders" }, deny("table")],
    // ARN fields: refused whatever they name (operations naming tables only by ARN included).
    ["TableArn", "ExportTableToPointInTime", { TableArn: arn("table/Orders"), S3Bucket: "b" }, deny("table")],
    ["TableArn other", "ExportTableToPointInTime", { TableArn: arn("table/Secret") }, deny("table")],
    ["TableArn with a name only", "ExportTableToPointInTime", { TableArn: "Orders" }, deny("table")],
    ["ResourceArn table", "ListTagsOfResource", { ResourceArn: arn("table/Users") }, deny("table")],
    [
      "ResourceArn index",
      "TagResource",
      { ResourceArn: arn("table/Orders/index/byDate"), Tags: [] },
      deny("table"),
    ],
    [
      "ARN field beside a listed name",
      "GetItem",
      { TableName: "Orders", ResourceArn: arn("table/Orders") },
      deny("table"),
    ],
    [
      "ResourceArn stream",
      "GetResourcePolicy",
      { ResourceArn: arn("table/Secret/stream/2024-01-01T00:00:00.000") },
      deny("table"),
    ],
    [
      "ResourceArn other partition",
      "UntagResource",
      { ResourceArn: "arn:aws-cn:dynamodb:cn-north-1:1:table/Orders" },
      deny("table"),
    ],
    ["ResourceArn not a string", "UntagResource", { ResourceArn: { arn: "x" } }, deny("bad_request")],
    [
      "SourceTableArn",
      "RestoreTableToPointInTime",
      { SourceTableArn: arn("table/Orders"), TargetTableName: "Users" },
      deny("table"),
    ],
    [
      "SourceTableName",
      "RestoreTableToPointInTime",
      { SourceTableName: "Secret", TargetTableName: "Orders" },
      deny("table"),
    ],
    [
      "TargetTableName",
      "RestoreTableToPointInTime",
      { SourceTableName: "Orders", TargetTableName: "Secret" },
      deny("table"),
    ],
    [
      "BackupArn names the source table",
      "RestoreTableFromBackup",
      { BackupArn: arn("table/Secret/backup/01489602797149-73d8d5bc"), TargetTableName: "Orders" },
      deny("table"),
    ],
    [
      "BackupArn",
      "DescribeBackup",
      { BackupArn: arn("table/Orders/backup/01489602797149-73d8d5bc") },
      deny("table"),
    ],
    [
      "ExportArn",
      "DescribeExport",
      { ExportArn: arn("table/Secret/export/01234567890123-a1b2c3d4") },
      deny("table"),
    ],
    [
      "ImportArn",
      "DescribeImport",
      { ImportArn: arn("table/Orders/import/01234567890123-a1b2c3d4") },
      deny("table"),
    ],
    ["GlobalTableName", "DescribeGlobalTable", { GlobalTableName: "Orders" }, allow],
    [
      "GlobalTableName other",
      "UpdateGlobalTable",
      { GlobalTableName: "Secret", ReplicaUpdates: [] },
      deny("table"),
    ],
    // RequestItems.
    ["BatchGetItem", "BatchGetItem", { RequestItems: { Orders: { Keys: [] }, Users: { Keys: [] } } }, allow],
    [
      "BatchGetItem one other",
      "BatchGetItem",
      { RequestItems: { Orders: { Keys: [] }, Secret: { Keys: [] } } },
      deny("table"),
    ],
    ["BatchWriteItem", "BatchWriteItem", { RequestItems: { Orders: [{ PutRequest: { Item: {} } }] } }, allow],
    [
      "BatchWriteItem ARN key",
      "BatchWriteItem",
      { RequestItems: { [arn("table/Secret")]: [] } },
      deny("table"),
    ],
    [
      "BatchWriteItem ARN key of a listed name",
      "BatchWriteItem",
      { RequestItems: { Orders: [], "arn:aws:dynamodb:eu-west-1:999999999999:table/Users": [] } },
      deny("table"),
    ],
    ["BatchGetItem empty", "BatchGetItem", { RequestItems: {} }, deny("table")],
    [
      "BatchGetItem key ARN not a table",
      "BatchGetItem",
      { RequestItems: { [arn("global-table/Orders")]: {} } },
      deny("table"),
    ],
    ["RequestItems array", "BatchGetItem", { RequestItems: [{ Orders: {} }] }, deny("bad_request")],
    ["RequestItems null", "BatchGetItem", { RequestItems: null }, deny("bad_request")],
    [
      "RequestItems plus TableName",
      "BatchGetItem",
      { TableName: "Orders", RequestItems: { Secret: {} } },
      deny("table"),
    ],
    // TransactItems.
    [
      "TransactGetItems",
      "TransactGetItems",
      {
        TransactItems: [{ Get: { TableName: "Orders", Key: {} } }, { Get: { TableName: "Users", Key: {} } }],
      },
      allow,
    ],
    [
      "TransactGetItems other",
      "TransactGetItems",
      { TransactItems: [{ Get: { TableName: "Orders" } }, { Get: { TableName: "Secret" } }] },
      deny("table"),
    ],
    [
      "TransactWriteItems every kind",
      "TransactWriteItems",
      {
        TransactItems: [
          { Put: { TableName: "Orders", Item: {} } },
          { Update: { TableName: "Users", Key: {} } },
          { Delete: { TableName: "Orders" } },
          { ConditionCheck: { TableName: "Users" } },
        ],
      },
      allow,
    ],
    [
      "TransactWrite ARN of a listed name",
      "TransactWriteItems",
      { TransactItems: [{ Put: { TableName: "Orders" } }, { Delete: { TableName: arn("table/Orders") } }] },
      deny("table"),
    ],
    [
      "TransactWrite Put other",
      "TransactWriteItems",
      { TransactItems: [{ Put: { TableName: "Secret" } }] },
      deny("table"),
    ],
    [
      "TransactWrite Update other",
      "TransactWriteItems",
      { TransactItems: [{ Update: { TableName: "Secret" } }] },
      deny("table"),
    ],
    [
      "TransactWrite Delete other",
      "TransactWriteItems",
      { TransactItems: [{ Delete: { TableName: "Secret" } }] },
      deny("table"),
    ],
    [
      "TransactWrite ConditionCheck other",
      "TransactWriteItems",
      { TransactItems: [{ ConditionCheck: { TableName: "Secret" } }] },
      deny("table"),
    ],
    [
      "two kinds in one item: both count",
      "TransactWriteItems",
      { TransactItems: [{ Put: { TableName: "Orders" }, Delete: { TableName: "Secret" } }] },
      deny("table"),
    ],
    [
      "item of unknown kind",
      "TransactWriteItems",
      { TransactItems: [{ Put: { TableName: "Orders" } }, { Copy: {} }] },
      deny("table"),
    ],
    ["empty TransactItems", "TransactWriteItems", { TransactItems: [] }, deny("table")],
    [
      "TransactItems object",
      "TransactWriteItems",
      { TransactItems: { Put: { TableName: "Orders" } } },
      deny("bad_request"),
    ],
    ["TransactItems item null", "TransactWriteItems", { TransactItems: [null] }, deny("bad_request")],
    [
      "TransactItems action string",
      "TransactWriteItems",
      { TransactItems: [{ Put: "Orders" }] },
      deny("bad_request"),
    ],
    [
      "TransactItems no TableName",
      "TransactWriteItems",
      { TransactItems: [{ Put: { Item: {} } }] },
      deny("bad_request"),
    ],
    // ImportTable.
    [
      "ImportTable",
      "ImportTable",
      { TableCreationParameters: { TableName: "Orders" }, S3BucketSource: {} },
      allow,
    ],
    ["ImportTable without a name", "ImportTable", { TableCreationParameters: {} }, deny("bad_request")],
    ["ImportTable other", "ImportTable", { TableCreationParameters: { TableName: "Secret" } }, deny("table")],
    [
      "ImportTable parameters not an object",
      "ImportTable",
      { TableCreationParameters: "Orders" },
      deny("bad_request"),
    ],
    // PartiQL: the tables are inside a statement.
    ["ExecuteStatement", "ExecuteStatement", { Statement: 'SELECT * FROM "Orders"' }, deny("table")],
    [
      "ExecuteStatement with a decoy",
      "ExecuteStatement",
      { TableName: "Orders", Statement: "SELECT * FROM Secret" },
      deny("table"),
    ],
    ["BatchExecuteStatement", "BatchExecuteStatement", { Statements: [] }, deny("table")],
    ["ExecuteTransaction", "ExecuteTransaction", { TransactStatements: [] }, deny("table")],
    // Operations not known to name tables only where we look, or in other letter case.
    ["unknown operation", "FrobnicateTable", { TableName: "Orders" }, deny("table")],
    ["known operation, other case", "getItem", { TableName: "Orders" }, deny("table")],
    [
      "PartiQL, other case",
      "executeStatement",
      { TableName: "Orders", Statement: "SELECT * FROM Secret" },
      deny("table"),
    ],
    ["Streams operation", "GetRecords", { ShardIterator: "x" }, deny("table")],
    // Account-wide listings.
    ["ListTables", "ListTables", {}, allow],
    ["ListTables paginated", "ListTables", { ExclusiveStartTableName: "Secret", Limit: 10 }, allow],
    ["ListGlobalTables paginated", "ListGlobalTables", { ExclusiveStartGlobalTableName: "Secret" }, allow],
    ["DescribeLimits", "DescribeLimits", {}, allow],
    ["DescribeEndpoints", "DescribeEndpoints", {}, allow],
    ["ListExports", "ListExports", { MaxResults: 5 }, allow],
    ["ListImports", "ListImports", {}, allow],
    ["ListContributorInsights", "ListContributorInsights", {}, allow],
    // A listing that names a table is held to the list like any other request.
    ["ListBackups for a listed table", "ListBackups", { TableName: "Orders" }, allow],
    ["ListBackups for another table", "ListBackups", { TableName: "Secret" }, deny("table")],
    ["ListExports for another table", "ListExports", { TableArn: arn("table/Secret") }, deny("table")],
    ["ListImports by ARN, listed name", "ListImports", { TableArn: arn("table/Users") }, deny("table")],
    ["ListContributorInsights other", "ListContributorInsights", { TableName: "Secret" }, deny("table")],
    // Own keys only.
    [
      "inherited-looking key",
      "GetItem",
      JSON.parse('{"__proto__":{"TableName":"Orders"}}') as Record<string, unknown>,
      deny("table"),
    ],
  ];
  for (const [name, op, body, expected] of cases) {
    t.strictSame(checkDynamoDbRequest(target(op), body, TABLES), expected, name);
  }
  t.strictSame(
    checkDynamoDbRequest(target("GetItem"), { TableName: "Orders" }, { tables: new Set<string>() }),
    deny("table"),
    "empty list",
  );
  t.strictSame(
    checkDynamoDbRequest(target("ListTables"), {}, { tables: new Set<string>() }),
    allow,
    "empty list, listing",
  );
});

t.test("tables allow-list: table fields in another letter case", async (t) => {
  const cases: Array<[name: string, op: string, body: Record<string, unknown>]> = [
    ["tableName alone", "GetItem", { tableName: "Secret" }],
    ["tableName beside TableName", "GetItem", { TableName: "Orders", tableName: "Secret" }],
    ["TABLENAME", "GetItem", { TableName: "Orders", TABLENAME: "Secret" }],
    ["long s", "GetItem", { TableName: "Orders", "\u017fourceTableName": "Secret" }],
    ["dotless i", "BatchGetItem", { RequestItems: { Orders: {} }, "request\u0131tems": { Secret: {} } }],
    [
      "dotted capital I",
      "BatchGetItem",
      { RequestItems: { Orders: {} }, "Request\u0130tems": { Secret: {} } },
    ],
    ["globalTableName", "DescribeGlobalTable", { GlobalTableName: "Orders", globalTableName: "Secret" }],
    [
      "sourcetablename",
      "RestoreTableToPointInTime",
      { TargetTableName: "Orders", sourcetablename: "Secret" },
    ],
    ["tableArn", "GetItem", { TableName: "Orders", tableArn: arn("table/Secret") }],
    ["resourceArn", "GetItem", { TableName: "Orders", resourceARN: arn("table/Secret") }],
    ["requestItems", "BatchGetItem", { RequestItems: { Orders: {} }, requestItems: { Secret: {} } }],
    [
      "transactItems",
      "TransactWriteItems",
      {
        TransactItems: [{ Put: { TableName: "Orders" } }],
        transactItems: [{ Put: { TableName: "Secret" } }],
      },
    ],
    [
      "tableCreationParameters",
      "ImportTable",
      { TableCreationParameters: { TableName: "Orders" }, tableCreationParameters: { TableName: "Secret" } },
    ],
    [
      "kind in another case",
      "TransactWriteItems",
      { TransactItems: [{ Put: { TableName: "Orders" }, put: { TableName: "Secret" } }] },
    ],
    [
      "kind in another case, alone",
      "TransactWriteItems",
      { TransactItems: [{ DELETE: { TableName: "Secret" } }] },
    ],
    [
      "tableName in a transaction item",
      "TransactWriteItems",
      { TransactItems: [{ Put: { TableName: "Orders", tableName: "Secret" } }] },
    ],
    [
      "tableName in ImportTable's parameters",
      "ImportTable",
      { TableCreationParameters: { TableName: "Orders", tablename: "Secret" } },
    ],
  ];
  for (const [name, op, body] of cases) {
    t.strictSame(checkDynamoDbRequest(target(op), body, TABLES), deny("bad_request"), name);
  }
  // Exact names elsewhere are not table fields: attribute values and unrelated keys pass.
  t.strictSame(
    checkDynamoDbRequest(
      target("PutItem"),
      { TableName: "Orders", Item: { tableName: { S: "Secret" } } },
      TABLES,
    ),
    allow,
    "nested attribute",
  );
  t.strictSame(
    checkDynamoDbRequest(target("GetItem"), { TableName: "Orders", TableNames: "x" }, TABLES),
    allow,
    "a longer key",
  );
  // Without a tables rule, bodies are not read for tables.
  t.strictSame(checkDynamoDbRequest(target("GetItem"), { tableName: "Secret" }, OPERATIONS), allow);
});

t.test("operations that name a table, by operation", async (t) => {
  // Every table-scoped operation with a listed and an unlisted TableName (operations whose table
  // lives in another field are covered above).
  const byTableName = [
    "CreateBackup",
    "DescribeContinuousBackups",
    "DescribeContributorInsights",
    "DescribeKinesisStreamingDestination",
    "DescribeTable",
    "DescribeTableReplicaAutoScaling",
    "DescribeTimeToLive",
    "DisableKinesisStreamingDestination",
    "EnableKinesisStreamingDestination",
    "UpdateContinuousBackups",
    "UpdateContributorInsights",
    "UpdateItem",
    "UpdateKinesisStreamingDestination",
    "UpdateTable",
    "UpdateTableReplicaAutoScaling",
    "UpdateTimeToLive",
    "DeleteItem",
    "PutItem",
  ];
  for (const op of byTableName) {
    t.strictSame(checkDynamoDbRequest(target(op), { TableName: "Orders" }, TABLES), allow, `${op} listed`);
    t.strictSame(
      checkDynamoDbRequest(target(op), { TableName: "Secret" }, TABLES),
      deny("table"),
      `${op} unlisted`,
    );
    t.strictSame(checkDynamoDbRequest(target(op), {}, TABLES), deny("table"), `${op} none`);
  }
  for (const op of ["CreateGlobalTable", "DescribeGlobalTableSettings", "UpdateGlobalTableSettings"]) {
    t.strictSame(checkDynamoDbRequest(target(op), { GlobalTableName: "Users" }, TABLES), allow, op);
  }
  // Operations that name their table by ARN only: refused under a tables allow-list.
  const byArn: Array<[op: string, field: string, resource: string]> = [
    ["DeleteBackup", "BackupArn", "table/Orders/backup/1"],
    ["DeleteResourcePolicy", "ResourceArn", "table/Orders"],
    ["PutResourcePolicy", "ResourceArn", "table/Orders"],
    ["GetResourcePolicy", "ResourceArn", "table/Orders"],
    ["TagResource", "ResourceArn", "table/Orders"],
    ["UntagResource", "ResourceArn", "table/Orders"],
    ["ListTagsOfResource", "ResourceArn", "table/Orders"],
    ["ExportTableToPointInTime", "TableArn", "table/Orders"],
    ["DescribeExport", "ExportArn", "table/Orders/export/1"],
  ];
  for (const [op, field, resource] of byArn) {
    t.strictSame(checkDynamoDbRequest(target(op), { [field]: arn(resource) }, TABLES), deny("table"), op);
  }
});

t.test("property: a request naming any unlisted table is refused", async () => {
  const name = fc.stringMatching(/^[A-Za-z0-9_.-]{3,20}$/);
  const shape = fc.constantFrom(
    (n: string) => ["GetItem", { TableName: n }] as const,
    (n: string) => ["GetItem", { TableName: arn(`table/${n}`) }] as const,
    (n: string) => ["TagResource", { ResourceArn: arn(`table/${n}/index/i`) }] as const,
    (n: string) => ["BatchGetItem", { RequestItems: { Orders: {}, [n]: {} } }] as const,
    (n: string) =>
      [
        "TransactWriteItems",
        { TransactItems: [{ Put: { TableName: "Users" } }, { Delete: { TableName: n } }] },
      ] as const,
    (n: string) => ["RestoreTableToPointInTime", { SourceTableName: n, TargetTableName: "Orders" }] as const,
    (n: string) => ["ImportTable", { TableCreationParameters: { TableName: n } }] as const,
    (n: string) => ["ListBackups", { TableName: n }] as const,
  );
  fc.assert(
    fc.property(name, shape, (n, make) => {
      fc.pre(!TABLES.tables.has(n));
      const [op, body] = make(n);
      const decision = checkDynamoDbRequest(target(op), body, TABLES);
      return !decision.allow && decision.reason === "table";
    }),
    { numRuns: 300 },
  );
});
