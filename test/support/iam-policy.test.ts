// biome-ignore-all lint/suspicious/noTemplateCurlyInString: IAM policy variables ${…} are these tests' subject
/**
 * The test IAM evaluator's own semantics, on the cases the IAM documentation spells out, so the
 * deploy/aws test's answers can be trusted.
 */
import t from "tap";
import { evaluate, type IamRequest, type PolicyDocument } from "./iam-policy.js";

const doc = (...Statement: PolicyDocument["Statement"][]): PolicyDocument => ({
  Version: "2012-10-17",
  Statement: Statement.flat(),
});
const req = (action: string, resource: string, context: IamRequest["context"] = {}): IamRequest => ({
  action,
  resource,
  context,
});

t.test("allow, explicit deny, implicit deny; wildcards", async (t) => {
  const p = doc(
    { Effect: "Allow", Action: "s3:Get*", Resource: "arn:aws:s3:::b/*" },
    { Effect: "Deny", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/secret/*" },
    { Effect: "Allow", Action: "s3:Put?bject", Resource: "arn:aws:s3:::b/x" },
  );
  t.equal(evaluate([p], req("s3:GetObject", "arn:aws:s3:::b/a")), "allow");
  t.equal(evaluate([p], req("S3:getobject", "arn:aws:s3:::b/a")), "allow", "actions ignore case");
  t.equal(evaluate([p], req("s3:GetObject", "arn:aws:s3:::B/a")), "implicit-deny", "resources do not");
  t.equal(evaluate([p], req("s3:GetObject", "arn:aws:s3:::b/secret/k")), "explicit-deny");
  t.equal(evaluate([p], req("s3:PutObject", "arn:aws:s3:::b/x")), "allow");
  t.equal(evaluate([p], req("s3:PutObject", "arn:aws:s3:::b/y")), "implicit-deny");
  t.equal(evaluate([p], req("s3:DeleteObject", "arn:aws:s3:::b/a")), "implicit-deny");
  t.equal(evaluate([], req("s3:GetObject", "arn:aws:s3:::b/a")), "implicit-deny");
  const not = doc({ Effect: "Allow", NotAction: "s3:Delete*", NotResource: "arn:aws:s3:::b/ro/*" });
  t.equal(evaluate([not], req("s3:GetObject", "arn:aws:s3:::b/a")), "allow");
  t.equal(evaluate([not], req("s3:DeleteObject", "arn:aws:s3:::b/a")), "implicit-deny");
  t.equal(evaluate([not], req("s3:GetObject", "arn:aws:s3:::b/ro/a")), "implicit-deny");
});

t.test("policy variables", async (t) => {
  const p = doc({
    Effect: "Allow",
    Action: "s3:GetObject",
    Resource: "arn:aws:s3:::b/private/${cognito-identity.amazonaws.com:sub}/*",
  });
  const ctx = { "cognito-identity.amazonaws.com:sub": "eu-west-1:abc" };
  t.equal(evaluate([p], req("s3:GetObject", "arn:aws:s3:::b/private/eu-west-1:abc/k", ctx)), "allow");
  t.equal(evaluate([p], req("s3:GetObject", "arn:aws:s3:::b/private/eu-west-1:abd/k", ctx)), "implicit-deny");
  t.equal(
    evaluate([p], req("s3:GetObject", "arn:aws:s3:::b/private/eu-west-1:abc/k")),
    "implicit-deny",
    "absent",
  );
  // A value is literal: its own "*" is no wildcard.
  const star = { "cognito-identity.amazonaws.com:sub": "*" };
  t.equal(evaluate([p], req("s3:GetObject", "arn:aws:s3:::b/private/x/k", star)), "implicit-deny");
  const esc = doc({ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/a${*}b${?}${$}" });
  t.equal(evaluate([esc], req("s3:GetObject", "arn:aws:s3:::b/a*b?$")), "allow");
  t.equal(evaluate([esc], req("s3:GetObject", "arn:aws:s3:::b/axxb?$")), "implicit-deny");
});

t.test("conditions", async (t) => {
  const p = doc({
    Effect: "Allow",
    Action: "dynamodb:GetItem",
    Resource: "*",
    Condition: {
      "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": ["${www.amazon.com:user_id}"] },
    },
  });
  const ctx = (keys?: string[]) => ({
    "www.amazon.com:user_id": "u1",
    ...(keys === undefined ? {} : { "dynamodb:LeadingKeys": keys }),
  });
  t.equal(evaluate([p], req("dynamodb:GetItem", "t", ctx(["u1"]))), "allow");
  t.equal(evaluate([p], req("dynamodb:GetItem", "t", ctx(["u1", "u2"]))), "implicit-deny");
  t.equal(evaluate([p], req("dynamodb:GetItem", "t", ctx([]))), "allow", "ForAllValues of nothing is true");
  t.equal(evaluate([p], req("dynamodb:GetItem", "t", ctx())), "allow", "absent too");
  const nul = doc({
    Effect: "Allow",
    Action: "dynamodb:GetItem",
    Resource: "*",
    Condition: { Null: { "dynamodb:LeadingKeys": "false" } },
  });
  t.equal(evaluate([nul], req("dynamodb:GetItem", "t", ctx(["u1"]))), "allow");
  t.equal(evaluate([nul], req("dynamodb:GetItem", "t", ctx())), "implicit-deny");

  const trust = doc({
    Effect: "Allow",
    Principal: { Federated: "cognito-identity.amazonaws.com" },
    Action: "sts:AssumeRoleWithWebIdentity",
    Condition: {
      StringEquals: { "cognito-identity.amazonaws.com:aud": "pool" },
      "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": "authenticated" },
    },
  });
  const assume = (
    aud: string | undefined,
    amr: string[],
    id = "cognito-identity.amazonaws.com",
  ): IamRequest => ({
    action: "sts:AssumeRoleWithWebIdentity",
    principal: { type: "Federated", id },
    context: {
      ...(aud === undefined ? {} : { "cognito-identity.amazonaws.com:aud": aud }),
      "cognito-identity.amazonaws.com:amr": amr,
    },
  });
  t.equal(evaluate([trust], assume("pool", ["authenticated", "x"])), "allow");
  t.equal(evaluate([trust], assume("pool", ["unauthenticated"])), "implicit-deny");
  t.equal(evaluate([trust], assume("pool", [])), "implicit-deny", "ForAnyValue of nothing is false");
  t.equal(evaluate([trust], assume("other", ["authenticated"])), "implicit-deny");
  t.equal(evaluate([trust], assume(undefined, ["authenticated"])), "implicit-deny", "single-valued, absent");
  t.equal(evaluate([trust], assume("pool", ["authenticated"], "accounts.google.com")), "implicit-deny");

  const like = doc({
    Effect: "Allow",
    Action: "s3:ListBucket",
    Resource: "arn:aws:s3:::b",
    Condition: {
      StringLike: { "s3:prefix": "home/${aws:username}/*" },
      StringNotLike: { "s3:prefix": "*/tmp/*" },
    },
  });
  const list = (prefix?: string) =>
    req("s3:ListBucket", "arn:aws:s3:::b", {
      "aws:username": "ann",
      ...(prefix === undefined ? {} : { "s3:prefix": prefix }),
    });
  t.equal(evaluate([like], list("home/ann/")), "allow");
  t.equal(evaluate([like], list("home/ann/x/")), "allow");
  t.equal(evaluate([like], list("home/ann")), "implicit-deny");
  t.equal(evaluate([like], list("home/bob/")), "implicit-deny");
  t.equal(evaluate([like], list("home/ann/tmp/")), "implicit-deny");
  t.equal(evaluate([like], list()), "implicit-deny", "no prefix at all");
});

t.test("what it cannot read, it refuses to judge", async (t) => {
  const bad: Array<[string, PolicyDocument]> = [
    [
      "IfExists",
      doc({ Effect: "Allow", Action: "*", Resource: "*", Condition: { StringEqualsIfExists: { a: "b" } } }),
    ],
    [
      "numeric",
      doc({ Effect: "Allow", Action: "*", Resource: "*", Condition: { NumericLessThan: { a: "1" } } }),
    ],
    [
      "NotPrincipal",
      { Statement: [{ Effect: "Allow", Action: "*", Resource: "*", NotPrincipal: {} } as never] },
    ],
    ["no action", doc({ Effect: "Allow", Resource: "*" })],
    ["bad Null", doc({ Effect: "Allow", Action: "*", Resource: "*", Condition: { Null: { a: "yes" } } })],
    [
      "other set",
      doc({ Effect: "Allow", Action: "*", Resource: "*", Condition: { "ForOne:StringLike": { a: "b" } } }),
    ],
  ];
  for (const [name, p] of bad) t.throws(() => evaluate([p], req("s3:GetObject", "r", { a: "b" })), name);
  const multi = doc({ Effect: "Allow", Action: "*", Resource: "*", Condition: { StringEquals: { a: "b" } } });
  t.throws(() => evaluate([multi], req("x:Y", "r", { a: ["b"] })), "a set with a single-valued operator");
});
