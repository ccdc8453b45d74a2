// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${ENV} references are part of this file's subject
/**
 * The config's JSON Schema: generated from the zod shape (one source), shipped as
 * config/cupbearer.schema.json (equal to what `cupbearer schema` prints), referenced from every
 * example config, and in agreement with cupbearer's own validation on the examples and on
 * typical mistakes (validated with Ajv, as editors' YAML language server does).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Ajv } from "ajv";
import t from "tap";
import { parse } from "yaml";
import { configJsonSchema, configJsonSchemaText, keysAt } from "../../src/config/json-schema.js";
import { parseConfigText } from "../../src/config/load.js";
import { runMain } from "../support/cli.js";

const ROOT = join(import.meta.dirname, "../..");
const SCHEMA_FILE = join(ROOT, "config/cupbearer.schema.json");
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(configJsonSchema());

/** Every config a user is shown: config/*.yaml, the deploy component's, the README's YAML blocks. */
const EXAMPLES = [
  ...readdirSync(join(ROOT, "config"))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => join(ROOT, "config", f)),
  join(ROOT, "deploy/components/sidecar/config.yaml"),
];

t.test(
  "config/cupbearer.schema.json is the generated schema, and `cupbearer schema` prints it",
  async (t) => {
    t.equal(
      readFileSync(SCHEMA_FILE, "utf8"),
      configJsonSchemaText(),
      "regenerate it: npm run build && node dist/src/cli.js schema > config/cupbearer.schema.json",
    );
    const printed = await runMain(t, ["schema"]);
    t.equal(printed.code, 0);
    t.equal(printed.stdout, configJsonSchemaText());
    t.equal(configJsonSchema(), configJsonSchema(), "generated once");
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { files: string[] };
    t.ok(pkg.files.includes("config/cupbearer.schema.json"), "shipped in the package");
  },
);

t.test("every example config names the schema and passes it", async (t) => {
  for (const file of EXAMPLES) {
    const text = readFileSync(file, "utf8");
    const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(text);
    t.ok(m, `${file}: has the yaml-language-server comment`);
    if (m?.[1] !== undefined)
      t.equal(resolve(dirname(file), m[1]), SCHEMA_FILE, `${file}: it resolves to the schema`);
    t.ok(validate(parse(text)), `${file}: valid (${ajv.errorsText(validate.errors)})`);
  }
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  for (const [, block] of readme.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    t.ok(validate(parse(block ?? "")), `README block passes (${ajv.errorsText(validate.errors)})`);
  }
});

t.test("the schema agrees with cupbearer on typical documents", async (t) => {
  const base = 'routes:\n  - id: a\n    upstream: "http://127.0.0.1:3000"\n    auth: { mode: public }\n';
  const cases: Array<[name: string, yaml: string, valid: boolean]> = [
    ["upstream as a string", base, true],
    [
      "upstream as an object",
      "routes:\n  - id: a\n    upstream: { url: http://127.0.0.1:3000, timeoutMs: 5 }\n    auth: { mode: public }\n",
      true,
    ],
    ["a port from the environment", `listen: { port: "\${PORT:-8080}" }\n${base}`, true],
    ["a port as a string of digits", `listen: { port: "8080" }\n${base}`, true],
    ["a boolean as a string", `listen: { trustForwardedHeaders: "false" }\n${base}`, true],
    ["an enum from the environment", `log: { level: "\${LEVEL}" }\n${base}`, true],
    ["unknown key", `listn: {}\n${base}`, false],
    ["unknown nested key", "routes:\n  - id: a\n    upstream: http://x\n    match: { prefix: /a }\n", false],
    ["wrong enum", `log: { level: loud }\n${base}`, false],
    ["port out of range", `listen: { port: 70000 }\n${base}`, false],
    ["not a port", `listen: { port: eighty }\n${base}`, false],
    ["no routes", "listen: {}\n", false],
    [
      "unknown DynamoDB operation",
      "routes:\n  - id: a\n    upstream: { url: http://x, dynamodb: { operations: [Getitem] } }\n",
      false,
    ],
  ];
  for (const [name, yaml, valid] of cases) {
    t.equal(validate(parse(yaml)), valid, `schema: ${name}`);
    // Where the schema accepts, so does cupbearer's shape (cross-checks aside); where it refuses, so does cupbearer.
    let accepted = true;
    try {
      parseConfigText(yaml, { PORT: "8080", LEVEL: "info" });
    } catch {
      accepted = false;
    }
    t.equal(accepted, valid, `cupbearer: ${name}`);
  }
});

t.test("keysAt: the keys of the mapping at a path", async (t) => {
  t.ok(keysAt([]).includes("routes"));
  t.strictSame(keysAt(["routes", 0, "upstream"]).sort(), ["aws", "dynamodb", "s3", "timeoutMs", "url"]);
  t.ok(keysAt(["identityPools", 0, "roles"]).includes("byGroup"));
  t.strictSame(keysAt(["routes", 0, "auth", "claims"]), [], "a map of any names");
  t.strictSame(keysAt(["nope", 1]), []);
});
