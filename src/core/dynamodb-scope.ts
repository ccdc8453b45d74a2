/**
 * DynamoDB allow-lists (`upstream.dynamodb.tables` / `operations`), decided before signing from
 * the `X-Amz-Target` header and the parsed JSON body.
 *
 * Pure. Fails closed: when a tables allow-list is set, a request is let through only if every
 * table it names is on the list and the set of tables it names is known for certain.
 */

/** Why a DynamoDB request was refused (403 for `operation` and `table`, 400 for `bad_request`). */
export type DynamoDbRefusal = "operation" | "table" | "bad_request";

/** The decision of {@link checkDynamoDbRequest}. */
export type DynamoDbDecision = { allow: true } | { allow: false; reason: DynamoDbRefusal };

const ALLOW: DynamoDbDecision = { allow: true };
const refuse = (reason: DynamoDbRefusal): DynamoDbDecision => ({ allow: false, reason });

// `DynamoDB_20120810.GetItem`: a service prefix, then the operation after the last dot.
const TARGET = /^[A-Za-z][A-Za-z0-9_.]*\.([A-Za-z0-9]+)$/;

/** PartiQL names its tables inside a statement we do not parse. */
const PARTIQL: ReadonlySet<string> = new Set([
  "ExecuteStatement",
  "BatchExecuteStatement",
  "ExecuteTransaction",
]);

/** Operations that may name no table at all (account-wide listings and limits). */
const TABLELESS: ReadonlySet<string> = new Set([
  "ListTables",
  "DescribeLimits",
  "DescribeEndpoints",
  "ListBackups",
  "ListGlobalTables",
  "ListExports",
  "ListImports",
  "ListContributorInsights",
]);

/**
 * Every other operation of the DynamoDB API (2012-08-10), each of which names its tables only in
 * the fields {@link tablesOf} reads. An operation not known here (a new one, or a known one in
 * other letter case, which DynamoDB may still accept) could name a table in a field we do not
 * read, so a tables allow-list refuses it.
 */
const TABLE_OPERATIONS: ReadonlySet<string> = new Set([
  "BatchGetItem",
  "BatchWriteItem",
  "CreateBackup",
  "CreateGlobalTable",
  "CreateTable",
  "DeleteBackup",
  "DeleteItem",
  "DeleteResourcePolicy",
  "DeleteTable",
  "DescribeBackup",
  "DescribeContinuousBackups",
  "DescribeContributorInsights",
  "DescribeExport",
  "DescribeGlobalTable",
  "DescribeGlobalTableSettings",
  "DescribeImport",
  "DescribeKinesisStreamingDestination",
  "DescribeTable",
  "DescribeTableReplicaAutoScaling",
  "DescribeTimeToLive",
  "DisableKinesisStreamingDestination",
  "EnableKinesisStreamingDestination",
  "ExportTableToPointInTime",
  "GetItem",
  "GetResourcePolicy",
  "ImportTable",
  "ListTagsOfResource",
  "PutItem",
  "PutResourcePolicy",
  "Query",
  "RestoreTableFromBackup",
  "RestoreTableToPointInTime",
  "Scan",
  "TagResource",
  "TransactGetItems",
  "TransactWriteItems",
  "UntagResource",
  "UpdateContinuousBackups",
  "UpdateContributorInsights",
  "UpdateGlobalTable",
  "UpdateGlobalTableSettings",
  "UpdateItem",
  "UpdateKinesisStreamingDestination",
  "UpdateTable",
  "UpdateTableReplicaAutoScaling",
  "UpdateTimeToLive",
]);

/** Top-level fields holding a table name (or, since 2024, a table ARN). */
const NAME_FIELDS = ["TableName", "GlobalTableName", "TargetTableName", "SourceTableName"] as const;
/** Top-level fields holding an ARN rooted at a table (`…:table/<name>[/…]`). */
const ARN_FIELDS = [
  "TableArn",
  "ResourceArn",
  "SourceTableArn",
  "BackupArn",
  "ExportArn",
  "ImportArn",
  "StreamArn",
] as const;
const TRANSACT_KINDS = ["Get", "Put", "Update", "Delete", "ConditionCheck"] as const;

// arn:<partition>:dynamodb:<region>:<account>:table/<name>[/…]; table names are [A-Za-z0-9_.-].
const TABLE_ARN = /^arn:[^:]+:dynamodb:[^:]*:[^:]*:table\/([A-Za-z0-9_.-]+)(?:\/.*)?$/;

type Tables = Set<string> | "unknown" | "bad_request";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The table a name-or-ARN field names; "unknown" for an ARN that is not rooted at a table. */
function tableOf(value: string, arnOnly: boolean): string | "unknown" {
  if (!arnOnly && !value.startsWith("arn:")) return value;
  const m = TABLE_ARN.exec(value);
  return m?.[1] ?? "unknown";
}

/** Every table the request body names, in the fields the DynamoDB API defines for them. */
function tablesOf(body: Record<string, unknown>): Tables {
  const tables = new Set<string>();
  const add = (value: unknown, arnOnly: boolean): Tables | undefined => {
    if (typeof value !== "string") return "bad_request";
    const table = tableOf(value, arnOnly);
    if (table === "unknown") return "unknown";
    tables.add(table);
    return undefined;
  };
  const addField = (holder: Record<string, unknown>, field: string, arnOnly: boolean): Tables | undefined =>
    Object.hasOwn(holder, field) ? add(holder[field], arnOnly) : undefined;

  for (const field of NAME_FIELDS) {
    const problem = addField(body, field, false);
    if (problem !== undefined) return problem;
  }
  for (const field of ARN_FIELDS) {
    const problem = addField(body, field, true);
    if (problem !== undefined) return problem;
  }
  // BatchGetItem, BatchWriteItem: keyed by table name or ARN.
  if (Object.hasOwn(body, "RequestItems")) {
    if (!isObject(body.RequestItems)) return "bad_request";
    for (const name of Object.keys(body.RequestItems)) {
      const problem = add(name, false);
      if (problem !== undefined) return problem;
    }
  }
  // TransactGetItems, TransactWriteItems: each item one of Get, Put, Update, Delete, ConditionCheck.
  if (Object.hasOwn(body, "TransactItems")) {
    if (!Array.isArray(body.TransactItems)) return "bad_request";
    for (const item of body.TransactItems) {
      if (!isObject(item)) return "bad_request";
      let named = false;
      for (const kind of TRANSACT_KINDS) {
        if (!Object.hasOwn(item, kind)) continue;
        const action = item[kind];
        if (!isObject(action)) return "bad_request";
        const problem = add(action.TableName, false);
        if (problem !== undefined) return problem;
        named = true;
      }
      if (!named) return "unknown";
    }
  }
  // ImportTable names the table it creates inside its creation parameters.
  if (Object.hasOwn(body, "TableCreationParameters")) {
    if (!isObject(body.TableCreationParameters)) return "bad_request";
    const problem = add(body.TableCreationParameters.TableName, false);
    if (problem !== undefined) return problem;
  }
  return tables;
}

/**
 * May this DynamoDB request pass the route's allow-lists?
 *
 * @param target the `X-Amz-Target` header (`DynamoDB_20120810.GetItem`); the operation is the
 *   part after the last dot. Missing or malformed: `bad_request` whenever a rule is set.
 * @param body the parsed JSON body; anything but a JSON object is a `bad_request` when a rule is set.
 * @param rules `operations`: the operation must be listed, else `operation`. `tables`: every table
 *   the request names (TableName, GlobalTableName, TargetTableName, SourceTableName, table ARNs,
 *   RequestItems keys, TransactItems, ImportTable's TableCreationParameters) must be listed, else
 *   `table`; PartiQL, operations not known to name their tables only in those fields, and
 *   operations naming no table (except account-wide listings) are refused with `table`.
 */
export function checkDynamoDbRequest(
  target: string | undefined,
  body: unknown,
  rules: { tables?: ReadonlySet<string>; operations?: ReadonlySet<string> },
): DynamoDbDecision {
  if (rules.tables === undefined && rules.operations === undefined) return ALLOW;
  const operation = target === undefined ? undefined : TARGET.exec(target)?.[1];
  if (operation === undefined || !isObject(body)) return refuse("bad_request");
  if (rules.operations !== undefined && !rules.operations.has(operation)) return refuse("operation");
  if (rules.tables === undefined) return ALLOW;

  if (PARTIQL.has(operation)) return refuse("table");
  const tableless = TABLELESS.has(operation);
  if (!tableless && !TABLE_OPERATIONS.has(operation)) return refuse("table");
  const tables = tablesOf(body);
  if (tables === "bad_request") return refuse("bad_request");
  if (tables === "unknown") return refuse("table");
  // A listing may name no table; every other operation acts on one.
  if (tables.size === 0) return tableless ? ALLOW : refuse("table");
  for (const table of tables) if (!rules.tables.has(table)) return refuse("table");
  return ALLOW;
}
