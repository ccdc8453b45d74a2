/**
 * DynamoDB allow-lists (`upstream.dynamodb.tables` / `operations`), decided before signing from
 * the `X-Amz-Target` header and the parsed JSON body.
 *
 * Pure. Fails closed: when a tables allow-list is set, a request is let through only if every
 * table it names is on the list and the set of tables it names is known for certain.
 *
 * Tables are allowed by name only. A table given as an ARN (in TableName, a RequestItems key or
 * any ARN field) is refused under a tables allow-list: the account in an ARN cannot be checked
 * here, so `arn:aws:dynamodb:eu-west-1:999999999999:table/Orders` (someone else's Orders) must not
 * pass for `Orders`. Operations that can only name their table by ARN (TagResource,
 * UntagResource, ListTagsOfResource, ExportTableToPointInTime, Get/Put/DeleteResourcePolicy,
 * DescribeBackup, DeleteBackup, RestoreTableFromBackup, DescribeExport, DescribeImport…) are
 * therefore always refused under a tables allow-list, and so is a listing filtered by TableArn.
 */

/** Why a DynamoDB request was refused (403 for `operation` and `table`, 400 for `bad_request`). */
export type DynamoDbRefusal = "operation" | "table" | "bad_request";

/** The decision of {@link checkDynamoDbRequest}. */
export type DynamoDbDecision = { allow: true } | { allow: false; reason: DynamoDbRefusal };

const ALLOW: DynamoDbDecision = { allow: true };
const refuse = (reason: DynamoDbRefusal): DynamoDbDecision => ({ allow: false, reason });

// `DynamoDB_20120810.GetItem`: exactly the service's prefix, then the operation.
const TARGET = /^DynamoDB_20120810\.([A-Za-z]+)$/;

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

/** Every operation of the DynamoDB API (2012-08-10): what `operations` allow-lists may name. */
export const DYNAMODB_OPERATIONS: ReadonlySet<string> = new Set([
  ...PARTIQL,
  ...TABLELESS,
  ...TABLE_OPERATIONS,
]);

/** Top-level fields holding a table name (or, since 2024, a table ARN, which is refused). */
const NAME_FIELDS = ["TableName", "GlobalTableName", "TargetTableName", "SourceTableName"] as const;
/** Top-level fields holding an ARN rooted at a table (`…:table/<name>[/…]`): refused when present. */
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

/** Every field read for tables at the top level of the body. */
const TOP_FIELDS = [
  ...NAME_FIELDS,
  ...ARN_FIELDS,
  "RequestItems",
  "TransactItems",
  "TableCreationParameters",
] as const;

type Tables = Set<string> | "unknown" | "bad_request";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A key folded for a case-insensitive comparison, the way a Java-style `equalsIgnoreCase` could
 * match it to an ASCII name: `ſ` (long s) as `s`, dotless `ı` and dotted `İ` as `i` (the Kelvin
 * sign is folded by toLowerCase, and no field name holds a `k`).
 */
function fold(key: string): string {
  return key
    .toLowerCase()
    .replace(/\u017f/g, "s")
    .replace(/\u0131|i\u0307/g, "i");
}

/**
 * Does `holder` have a key that equals one of `fields` case-insensitively but not exactly
 * (`tableName`, `TABLENAME`)? We read the exact field only; the service might read the other.
 */
function hasCaseVariant(holder: Record<string, unknown>, fields: readonly string[]): boolean {
  const folded = new Map(fields.map((f) => [fold(f), f]));
  for (const key of Object.keys(holder)) {
    const field = folded.get(fold(key));
    if (field !== undefined && field !== key) return true;
  }
  return false;
}

/** The table a name field names; "unknown" for an ARN (its account cannot be checked). */
function tableOf(value: string): string | "unknown" {
  return /^arn:/i.test(value) ? "unknown" : value;
}

/** Every table the request body names, in the fields the DynamoDB API defines for them. */
function tablesOf(body: Record<string, unknown>): Tables {
  // Checked first, wherever a field is read: a variant could be read by the service, not by us.
  if (hasCaseVariant(body, TOP_FIELDS)) return "bad_request";
  const tables = new Set<string>();
  const add = (value: unknown): Tables | undefined => {
    if (typeof value !== "string") return "bad_request";
    const table = tableOf(value);
    if (table === "unknown") return "unknown";
    tables.add(table);
    return undefined;
  };
  /** TableName inside a nested object (a transaction item's action, ImportTable's parameters). */
  const addNested = (holder: unknown): Tables | undefined => {
    if (!isObject(holder)) return "bad_request";
    if (hasCaseVariant(holder, ["TableName"])) return "bad_request";
    return add(holder.TableName);
  };

  for (const field of NAME_FIELDS) {
    if (!Object.hasOwn(body, field)) continue;
    const problem = add(body[field]);
    if (problem !== undefined) return problem;
  }
  for (const field of ARN_FIELDS) {
    if (!Object.hasOwn(body, field)) continue;
    return typeof body[field] === "string" ? "unknown" : "bad_request";
  }
  // BatchGetItem, BatchWriteItem: keyed by table name (or ARN, refused).
  if (Object.hasOwn(body, "RequestItems")) {
    if (!isObject(body.RequestItems)) return "bad_request";
    for (const name of Object.keys(body.RequestItems)) {
      const problem = add(name);
      if (problem !== undefined) return problem;
    }
  }
  // TransactGetItems, TransactWriteItems: each item one of Get, Put, Update, Delete, ConditionCheck.
  if (Object.hasOwn(body, "TransactItems")) {
    if (!Array.isArray(body.TransactItems)) return "bad_request";
    for (const item of body.TransactItems) {
      if (!isObject(item)) return "bad_request";
      if (hasCaseVariant(item, TRANSACT_KINDS)) return "bad_request";
      let named = false;
      for (const kind of TRANSACT_KINDS) {
        if (!Object.hasOwn(item, kind)) continue;
        const problem = addNested(item[kind]);
        if (problem !== undefined) return problem;
        named = true;
      }
      if (!named) return "unknown";
    }
  }
  // ImportTable names the table it creates inside its creation parameters.
  if (Object.hasOwn(body, "TableCreationParameters")) {
    const problem = addNested(body.TableCreationParameters);
    if (problem !== undefined) return problem;
  }
  return tables;
}

/**
 * May this DynamoDB request pass the route's allow-lists?
 *
 * @param target the `X-Amz-Target` header, exactly `DynamoDB_20120810.<Operation>`. Missing or
 *   anything else (another prefix, more dots): `bad_request` whenever a rule is set.
 * @param body the parsed JSON body; anything but a JSON object is a `bad_request` when a rule is set.
 * @param rules `operations`: the operation must be listed, else `operation`. `tables`: every table
 *   the request names (TableName, GlobalTableName, TargetTableName, SourceTableName,
 *   RequestItems keys, TransactItems, ImportTable's TableCreationParameters) must be listed by
 *   name, else `table`; a table given as an ARN, PartiQL, operations not known to name their
 *   tables only in those fields, and operations naming no table (except account-wide listings)
 *   are refused with `table`. A key that matches one of those fields in another letter case
 *   (`tableName`) is a `bad_request`.
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
