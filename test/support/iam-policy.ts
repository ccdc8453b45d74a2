// biome-ignore-all lint/suspicious/noTemplateCurlyInString: IAM policy variables ${…} are these tests' subject
/**
 * A small IAM policy evaluator for the subset deploy/aws/ uses, so tests can ask "would AWS let
 * this request through?" of the template's policy documents without an AWS account.
 *
 * Implemented (IAM JSON policy reference, "Policy evaluation logic"):
 * - an explicit Deny wins over any Allow; with no matching Allow the answer is an implicit deny;
 * - Action and NotAction (case-insensitive), Resource and NotResource (case-sensitive), with
 *   `*` and `?` wildcards; Principal `{Federated|Service|AWS: …}` for trust policies;
 * - policy variables `${key}` in Resource and condition values, from the request context, and
 *   the escapes `${*}`, `${?}`, `${$}`; a variable the context lacks makes the statement not match;
 * - condition operators StringEquals, StringNotEquals, StringLike, StringNotLike, Null, and the
 *   ForAllValues: / ForAnyValue: set prefixes (ForAllValues is true of an empty or absent set);
 *   keys within an operator and operators within a block are ANDed, values of one key ORed.
 *
 * Anything else (another operator, IfExists, a Condition on a NotPrincipal…) throws: a policy
 * this evaluator cannot read must fail the test, never pass silently.
 */

export type ContextValue = string | readonly string[];

/** One request as IAM sees it: the action, the resource ARN and the condition keys. */
export interface IamRequest {
  action: string;
  resource?: string;
  principal?: { type: "Federated" | "Service" | "AWS"; id: string };
  context: Readonly<Record<string, ContextValue>>;
}

export type IamDecision = "allow" | "explicit-deny" | "implicit-deny";

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

export interface PolicyStatement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: Record<string, string | string[]> | "*";
  Condition?: Record<string, Record<string, string | string[]>>;
}

const list = (v: string | readonly string[] | undefined): readonly string[] =>
  v === undefined ? [] : typeof v === "string" ? [v] : v;

const KNOWN_STATEMENT_KEYS = new Set([
  "Sid",
  "Effect",
  "Action",
  "NotAction",
  "Resource",
  "NotResource",
  "Principal",
  "Condition",
]);

/**
 * The pattern as a regular expression: wildcards when `wildcards`, policy variables replaced by
 * their (literal) values. Undefined when a variable has no value in the context.
 */
function patternRegExp(
  pattern: string,
  context: IamRequest["context"],
  opts: { wildcards: boolean; variables: boolean; caseInsensitive: boolean },
): RegExp | undefined {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (opts.variables && c === "$" && pattern[i + 1] === "{") {
      const end = pattern.indexOf("}", i);
      if (end === -1) throw new Error(`unclosed policy variable in ${pattern}`);
      const name = pattern.slice(i + 2, end);
      let value: string;
      if (name === "*" || name === "?" || name === "$") value = name;
      else {
        const v = context[name];
        // A multi-valued key cannot be a policy variable; an absent one never matches.
        if (typeof v !== "string") return undefined;
        value = v;
      }
      source += escapeRegExp(value);
      i = end;
    } else if (opts.wildcards && c === "*") source += "[\\s\\S]*";
    else if (opts.wildcards && c === "?") source += "[\\s\\S]";
    else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`, opts.caseInsensitive ? "i" : "");
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

function anyMatches(
  patterns: readonly string[],
  value: string,
  context: IamRequest["context"],
  opts: { wildcards: boolean; variables: boolean; caseInsensitive: boolean },
): boolean {
  return patterns.some((p) => patternRegExp(p, context, opts)?.test(value) === true);
}

/** One condition operator (without set prefix) applied to one context value and the policy's values. */
function compare(op: string, actual: string, expected: readonly string[], context: IamRequest["context"]) {
  switch (op) {
    case "StringEquals":
      return anyMatches(expected, actual, context, {
        wildcards: false,
        variables: true,
        caseInsensitive: false,
      });
    case "StringNotEquals":
      return !anyMatches(expected, actual, context, {
        wildcards: false,
        variables: true,
        caseInsensitive: false,
      });
    case "StringLike":
      return anyMatches(expected, actual, context, {
        wildcards: true,
        variables: true,
        caseInsensitive: false,
      });
    case "StringNotLike":
      return !anyMatches(expected, actual, context, {
        wildcards: true,
        variables: true,
        caseInsensitive: false,
      });
    default:
      throw new Error(`condition operator ${op} is not supported by this evaluator`);
  }
}

function conditionHolds(
  operator: string,
  key: string,
  values: readonly string[],
  request: IamRequest,
): boolean {
  const actual = request.context[key];
  if (operator === "Null") {
    if (values.length !== 1 || (values[0] !== "true" && values[0] !== "false")) {
      throw new Error(`Null takes "true" or "false", not ${JSON.stringify(values)}`);
    }
    const absent = actual === undefined || (Array.isArray(actual) && actual.length === 0);
    return absent === (values[0] === "true");
  }
  const colon = operator.indexOf(":");
  if (colon !== -1) {
    const set = operator.slice(0, colon);
    const op = operator.slice(colon + 1);
    const actuals = list(actual);
    if (set === "ForAllValues") return actuals.every((a) => compare(op, a, values, request.context));
    if (set === "ForAnyValue") return actuals.some((a) => compare(op, a, values, request.context));
    throw new Error(`set operator ${set} is not supported by this evaluator`);
  }
  if (operator.endsWith("IfExists")) throw new Error(`${operator} is not supported by this evaluator`);
  // A single-valued operator on an absent key is false (the negated ones too, as IAM documents).
  if (typeof actual !== "string") {
    if (actual === undefined) return false;
    throw new Error(`${key} is multi-valued: use ForAllValues or ForAnyValue with ${operator}`);
  }
  return compare(operator, actual, values, request.context);
}

function statementMatches(s: PolicyStatement, request: IamRequest): boolean {
  for (const key of Object.keys(s)) {
    if (!KNOWN_STATEMENT_KEYS.has(key))
      throw new Error(`statement key ${key} is not supported by this evaluator`);
  }
  const actionOpts = { wildcards: true, variables: false, caseInsensitive: true };
  if (s.Action !== undefined && !anyMatches(list(s.Action), request.action, request.context, actionOpts))
    return false;
  if (
    s.NotAction !== undefined &&
    anyMatches(list(s.NotAction), request.action, request.context, actionOpts)
  ) {
    return false;
  }
  if (s.Action === undefined && s.NotAction === undefined)
    throw new Error("a statement needs Action or NotAction");

  const resourceOpts = { wildcards: true, variables: true, caseInsensitive: false };
  if (s.Resource !== undefined || s.NotResource !== undefined) {
    if (request.resource === undefined)
      throw new Error("the request has no resource, the statement names one");
    if (
      s.Resource !== undefined &&
      !anyMatches(list(s.Resource), request.resource, request.context, resourceOpts)
    ) {
      return false;
    }
    if (
      s.NotResource !== undefined &&
      anyMatches(list(s.NotResource), request.resource, request.context, resourceOpts)
    ) {
      return false;
    }
  }

  if (s.Principal !== undefined) {
    if (request.principal === undefined)
      throw new Error("the request has no principal, the statement names one");
    if (s.Principal !== "*") {
      const ids = list(s.Principal[request.principal.type]);
      if (!ids.includes(request.principal.id) && !ids.includes("*")) return false;
    }
  }

  for (const [operator, block] of Object.entries(s.Condition ?? {})) {
    for (const [key, values] of Object.entries(block)) {
      if (!conditionHolds(operator, key, list(values), request)) return false;
    }
  }
  return true;
}

/** IAM's decision on one request given these policies (identity or trust policies, all of one kind). */
export function evaluate(policies: readonly PolicyDocument[], request: IamRequest): IamDecision {
  let allowed = false;
  for (const policy of policies) {
    for (const s of Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]) {
      if (s.Effect !== "Allow" && s.Effect !== "Deny") throw new Error(`Effect ${String(s.Effect)}`);
      if (!statementMatches(s, request)) continue;
      if (s.Effect === "Deny") return "explicit-deny";
      allowed = true;
    }
  }
  return allowed ? "allow" : "implicit-deny";
}
