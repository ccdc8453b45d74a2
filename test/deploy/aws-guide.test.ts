/**
 * docs/aws-setup.md, run: every shell block of its step-by-step part is executed, in order, by
 * bash with the real AWS CLI against moto_server (AWS_ENDPOINT_URL), from an empty account to a
 * token and an identity id. Then: the policy files it wrote are the template's policies
 * (deploy/aws/cupbearer.yaml) once parsed, the config it wrote passes `cupbearer check` with the
 * created ids, and the curl commands name the caller's own prefix.
 *
 * Not emulated, so stubbed and checked for shape only: `aws cognito-identity
 * set-identity-pool-roles` (moto does not implement it), `npx cupbearer --config …` (a server
 * that would run forever; `npx cupbearer check` runs for real, from dist/) and `curl` (there is
 * no cupbearer in front of moto's S3 here; test/e2e/aws-moto.test.ts covers that path).
 *
 * Needs the AWS CLI and moto: without them the test skips loudly, except under CI=true.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";
import { parseConfigText } from "../../src/config/load.js";
import { parseTemplate, resolve } from "../support/cfn.js";
import type { PolicyDocument } from "../support/iam-policy.js";
import { sharedMoto } from "../support/shared.js";

const run = promisify(execFile);
// About 25 AWS CLI runs, each a Python start-up: slow on a loaded machine.
t.setTimeout(300_000);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const guide = await readFile(join(ROOT, "docs/aws-setup.md"), "utf8");

/** The shell blocks of the step-by-step part, in order. */
function stepByStepScript(): string {
  const start = guide.indexOf("## Step by step with the AWS CLI");
  const end = guide.indexOf("## How a client learns its identity id");
  if (start === -1 || end === -1) throw new Error("docs/aws-setup.md lost its step-by-step section");
  return [...guide.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).join("\n");
}

/** Stubs for what is not emulated; each records its arguments, one JSON array a line. */
const PRELUDE = `set -euo pipefail
aws() {
  if [ "$1 $2" = "cognito-identity set-identity-pool-roles" ]; then
    node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "$@" >> stub-aws.log; return 0
  fi
  command aws "$@"
}
npx() {
  if [ "$1 $2" = "cupbearer check" ]; then env -u NODE_OPTIONS node "$CUPBEARER_CLI" "\${@:2}"; return; fi
  node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "$@" >> stub-npx.log
}
curl() { node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "$@" >> stub-curl.log; }
`;
const EPILOGUE = `
node -e 'console.log(JSON.stringify(process.env))' > final-env.json
`;

async function awsCliAvailable(): Promise<boolean> {
  try {
    await run("aws", ["--version"]);
    return true;
  } catch {
    return false;
  }
}

t.test("docs/aws-setup.md, step by step, against moto", async (t) => {
  if (!(await awsCliAvailable())) {
    const banner = "SKIPPED: the AWS CLI (aws) is not installed; docs/aws-setup.md not exercised";
    if (process.env.CI === "true") t.fail(`the AWS CLI is required under CI=true: ${banner}`);
    else {
      console.error(`\n${"!".repeat(banner.length)}\n${banner}\n${"!".repeat(banner.length)}\n`);
      t.pass("aws-setup guide", { skip: banner });
    }
    return;
  }
  const moto = await sharedMoto(t);
  if (moto === undefined) return;

  const dir = await mkdtemp(join(tmpdir(), "cupbearer-aws-guide-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "config"));
  await writeFile(join(dir, "config/aws.yaml"), await readFile(join(ROOT, "config/aws.yaml")));
  await writeFile(join(dir, "guide.sh"), PRELUDE + stepByStepScript() + EPILOGUE);

  // A clean AWS environment: only moto's endpoint and its dummy keys, no profile, no region.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("AWS_")) env[k] = v;
  Object.assign(env, {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    AWS_CONFIG_FILE: join(dir, "no-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, "no-credentials"),
    AWS_PAGER: "",
    CUPBEARER_CLI: join(ROOT, "dist/src/cli.js"),
  });
  let out: { stdout: string; stderr: string };
  try {
    out = await run("bash", ["guide.sh"], { cwd: dir, env, timeout: 280_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    t.fail(`the guide's commands failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
    return;
  }
  const vars = JSON.parse(await readFile(join(dir, "final-env.json"), "utf8")) as Record<string, string>;
  for (const name of [
    "USER_POOL_ID",
    "APP_CLIENT_ID",
    "IDENTITY_POOL_ID",
    "AUTH_ROLE_ARN",
    "ID_TOKEN",
    "IDENTITY_ID",
  ]) {
    t.match(vars[name], /\S/, `${name} was set`);
  }
  t.match(vars.IDENTITY_POOL_ID, /^eu-west-1:[0-9a-f-]{36}$/, "an identity pool id");
  // moto names identity ids in us-east-1 whatever the pool's region; AWS uses the pool's.
  t.match(vars.IDENTITY_ID, /^[a-z]{2}(-[a-z]+)+-\d+:[0-9a-f-]{36}$/, "an identity id");
  t.equal(vars.ID_TOKEN?.split(".").length, 3, "a JWT");
  t.match(out.stdout, /my-aws\.yaml: OK/, "cupbearer check accepted the written config");

  // The config the guide wrote, with the created ids in it.
  const config = parseConfigText(await readFile(join(dir, "my-aws.yaml"), "utf8"), {});
  t.strictSame(config.issuers[0]?.cognito, { region: "eu-west-1", userPoolId: vars.USER_POOL_ID });
  t.strictSame(config.issuers[0]?.clientIds, [vars.APP_CLIENT_ID]);
  t.equal(config.identityPools[0]?.identityPoolId, vars.IDENTITY_POOL_ID);
  t.strictSame(config.identityPools[0]?.roles.byGroup, {}, "no example role left over");

  // The policy files are the template's, with the same values.
  const template = parseTemplate(await readFile(join(ROOT, "deploy/aws/cupbearer.yaml"), "utf8"));
  const cfnEnv = {
    parameters: {
      ExistingUserPoolId: "",
      BucketName: "",
      TableName: vars.TABLE ?? "",
      Flow: "enhanced",
      AllowGuests: "false",
    },
    pseudo: {
      "AWS::Region": vars.AWS_REGION ?? "",
      "AWS::AccountId": vars.ACCOUNT_ID ?? "",
      "AWS::Partition": "aws",
      "AWS::StackName": "cupbearer",
    },
    refs: {
      IdentityPool: vars.IDENTITY_POOL_ID ?? "",
      Bucket: vars.BUCKET ?? "",
      UserPool: "",
      AppClient: "",
    },
    attributes: {},
  };
  const props = (name: string) =>
    resolve(template, cfnEnv, template.Resources[name]?.Properties) as {
      AssumeRolePolicyDocument: PolicyDocument;
      Policies?: Array<{ PolicyName: string; PolicyDocument: PolicyDocument }>;
    };
  const file = async (name: string) => JSON.parse(await readFile(join(dir, name), "utf8")) as unknown;
  t.strictSame(await file("trust-authenticated.json"), props("AuthenticatedRole").AssumeRolePolicyDocument);
  t.strictSame(
    await file("trust-unauthenticated.json"),
    props("UnauthenticatedRole").AssumeRolePolicyDocument,
  );
  const policies = Object.fromEntries(
    (props("AuthenticatedRole").Policies ?? []).map((p) => [p.PolicyName, p.PolicyDocument]),
  );
  t.strictSame(await file("files-policy.json"), policies["files-own-prefix"], "files-policy.json");
  t.strictSame(await file("table-policy.json"), policies["table-own-items"], "table-policy.json");
  // And moto holds them as written.
  const { stdout: stored } = await run(
    "aws",
    [
      "iam",
      "get-role-policy",
      "--role-name",
      "cupbearer-authenticated",
      "--policy-name",
      "files-own-prefix",
      "--output",
      "json",
    ],
    { env: { ...env, AWS_DEFAULT_REGION: "eu-west-1" } },
  );
  t.strictSame(
    (JSON.parse(stored) as { PolicyDocument: unknown }).PolicyDocument,
    policies["files-own-prefix"],
  );

  // The stubbed commands, checked for what they would have done.
  const lines = async (name: string) =>
    (await readFile(join(dir, name), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as string[]);
  const [roles] = await lines("stub-aws.log");
  const arg = (argv: string[] | undefined, flag: string) => argv?.[argv.indexOf(flag) + 1];
  t.equal(arg(roles, "--identity-pool-id"), vars.IDENTITY_POOL_ID);
  t.equal(
    arg(roles, "--roles"),
    `authenticated=${vars.AUTH_ROLE_ARN},unauthenticated=${vars.GUEST_ROLE_ARN}`,
    "both roles attached",
  );
  t.strictSame(
    JSON.parse(arg(roles, "--role-mappings") ?? "null"),
    {
      [`cognito-idp.eu-west-1.amazonaws.com/${vars.USER_POOL_ID}:${vars.APP_CLIENT_ID}`]: {
        Type: "Token",
        AmbiguousRoleResolution: "AuthenticatedRole",
      },
    },
    "the role mapping is valid JSON and names the app client",
  );
  t.strictSame(await lines("stub-npx.log"), [["cupbearer", "--config", "my-aws.yaml"]]);
  const curls = await lines("stub-curl.log");
  const own = `http://127.0.0.1:8080/files/${vars.BUCKET}/private/${vars.IDENTITY_ID}/hello.txt`;
  t.ok(
    curls.some((c) => c.includes("PUT") && c.includes(own)),
    "a PUT of the caller's own object",
  );
  t.ok(
    curls.some((c) => c.at(-1) === own),
    "a GET of it",
  );
  t.ok(
    curls.every((c) => c.includes(`Authorization: Bearer ${vars.ID_TOKEN}`)),
    "every curl carries the ID token",
  );
});
