// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${ENV} references are this file's subject
import { join } from "node:path";
import t from "tap";
import { interpolate, loadConfigFile, parseConfigText } from "../../src/config/load.js";
import { formatProblem, type Problem } from "../../src/config/problems.js";
import { type Config, ConfigError } from "../../src/config/types.js";

const EXAMPLE = `listen: { host: 0.0.0.0, port: 8080 }
admin:  { host: 0.0.0.0, port: 9090 }
issuers:
  - id: pool
    cognito: { region: eu-west-1, userPoolId: eu-west-1_AbCdEf123 }
    clientIds: [1example23456789]
  - id: local
    issuer: http://127.0.0.1:9229/local_abc
    jwksUri: http://127.0.0.1:9229/local_abc/.well-known/jwks.json
    clientIds: [abc]
routes:
  - id: status
    match: { pathPrefix: /status }
    upstream: http://127.0.0.1:3000
    auth: { mode: public }
  - id: orders
    match: { pathPrefix: /api/orders, methods: [GET, POST] }
    upstream: http://127.0.0.1:3000
    auth:
      mode: required
      issuers: [pool, local]
      tokenUse: access
      scopes: [orders/read]
      groups: [admin, staff]
      claims: { "custom:tenant": acme }
`;

/** The smallest valid config: one public route, its upstream given by `upstream`. */
const minimal = (upstream: string) =>
  `routes:\n  - id: r\n    match: {}\n    upstream: ${upstream}\n    auth: { mode: public }\n`;

/** The problems parseConfigText reports; throws (failing the test) when it accepts the text. */
function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(text, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("the config was accepted");
}

t.test("the example config passes and gets every default", async (t) => {
  const config = parseConfigText(EXAMPLE, {});
  const expected: Config = {
    listen: { host: "0.0.0.0", port: 8080, trustForwardedHeaders: false },
    admin: { host: "0.0.0.0", port: 9090 },
    log: { level: "info" },
    limits: {
      maxHeaderBytes: 16_384,
      maxTokenBytes: 8_192,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 5_000,
      upstreamTimeoutMs: 30_000,
      upstreamConnectTimeoutMs: 5_000,
      maxConnectionsPerUpstream: 256,
      maxClientConnections: 10_000,
      maxHeldBodyBytes: 268_435_456,
    },
    tokens: {
      clockSkewSeconds: 30,
      cacheMaxEntries: 10_000,
      jwksTimeoutMs: 5_000,
      jwksMaxBytes: 1_048_576,
      unknownKidWaitSeconds: 10,
      jwksRefreshSeconds: 3600,
    },
    shutdown: { drainTimeoutMs: 10_000 },
    identityPools: [],
    issuers: [
      {
        id: "pool",
        cognito: { region: "eu-west-1", userPoolId: "eu-west-1_AbCdEf123" },
        clientIds: ["1example23456789"],
        anyClient: false,
        allowInsecureHttp: false,
        maxTokenLifetimeSeconds: 86_400,
      },
      {
        id: "local",
        issuer: "http://127.0.0.1:9229/local_abc",
        jwksUri: "http://127.0.0.1:9229/local_abc/.well-known/jwks.json",
        clientIds: ["abc"],
        anyClient: false,
        allowInsecureHttp: false,
        maxTokenLifetimeSeconds: 86_400,
      },
    ],
    routes: [
      {
        id: "status",
        match: { pathPrefix: "/status", caseSensitive: false },
        upstream: { url: "http://127.0.0.1:3000" },
        stripPrefix: false,
        forwardRewriteHeaders: [],
        auth: {
          mode: "public",
          tokenUse: "any",
          scopes: [],
          groups: [],
          claims: {},
          token: { header: "authorization" },
          claimHeaders: {},
          albHeaders: false,
        },
      },
      {
        id: "orders",
        match: { pathPrefix: "/api/orders", methods: ["GET", "POST"], caseSensitive: false },
        upstream: { url: "http://127.0.0.1:3000" },
        stripPrefix: false,
        forwardRewriteHeaders: [],
        auth: {
          mode: "required",
          issuers: ["pool", "local"],
          tokenUse: "access",
          scopes: ["orders/read"],
          groups: ["admin", "staff"],
          claims: { "custom:tenant": "acme" },
          token: { header: "authorization" },
          claimHeaders: {},
          albHeaders: false,
        },
      },
    ],
  };
  t.strictSame(config, expected);
});

t.test("sections left out get their defaults", async (t) => {
  const config = parseConfigText(minimal("http://127.0.0.1:3000"), {});
  t.strictSame(config.listen, { host: "0.0.0.0", port: 8080, trustForwardedHeaders: false });
  t.strictSame(config.admin, { host: "127.0.0.1", port: 9090 });
  t.strictSame(config.log, { level: "info" });
  t.equal(config.limits.maxTokenBytes, 8_192);
  t.equal(config.tokens.clockSkewSeconds, 30);
  t.strictSame(config.shutdown, { drainTimeoutMs: 10_000 });
  t.strictSame(config.issuers, []);
});

t.test("${ENV} interpolation", async (t) => {
  const cases: Array<
    [name: string, text: string, env: NodeJS.ProcessEnv, pick: (c: Config) => unknown, expected: unknown]
  > = [
    [
      "set",
      minimal("${UP}"),
      { UP: "http://10.0.0.1:81" },
      (c) => c.routes[0]?.upstream.url,
      "http://10.0.0.1:81",
    ],
    [
      "inside a string",
      minimal("http://${HOST}:81/x"),
      { HOST: "up.internal" },
      (c) => c.routes[0]?.upstream.url,
      "http://up.internal:81/x",
    ],
    [
      "two in a string",
      minimal("http://${H}:${P}"),
      { H: "h", P: "82" },
      (c) => c.routes[0]?.upstream.url,
      "http://h:82",
    ],
    [
      "default when unset",
      minimal("${UP:-http://127.0.0.1:4000}"),
      {},
      (c) => c.routes[0]?.upstream.url,
      "http://127.0.0.1:4000",
    ],
    [
      "default when empty",
      minimal("${UP:-http://127.0.0.1:4000}"),
      { UP: "" },
      (c) => c.routes[0]?.upstream.url,
      "http://127.0.0.1:4000",
    ],
    [
      "set but empty: empty, as in a shell",
      `listen: { host: "[\${X}]" }\n${minimal("http://h")}`,
      { X: "" },
      (c) => c.listen.host,
      "[]",
    ],
    [
      "set wins over default",
      minimal("${UP:-http://127.0.0.1:4000}"),
      { UP: "http://h:5" },
      (c) => c.routes[0]?.upstream.url,
      "http://h:5",
    ],
    [
      "$$ is a literal $",
      `listen: { host: "a$$b$$" }\n${minimal("http://h")}`,
      { b: "no" },
      (c) => c.listen.host,
      "a$b$",
    ],
    [
      "$${X} is the literal text ${X}",
      `listen: { host: "$\${X}" }\n${minimal("http://h")}`,
      { X: "no" },
      (c) => c.listen.host,
      "${X}",
    ],
    ["a lone $ stays", `listen: { host: "a$b" }\n${minimal("http://h")}`, {}, (c) => c.listen.host, "a$b"],
    [
      "a value is not interpolated again",
      `listen: { host: "\${X}" }\n${minimal("http://h")}`,
      { X: "${Y}", Y: "y" },
      (c) => c.listen.host,
      "${Y}",
    ],
    [
      "a value cannot add YAML structure",
      `listen: { host: "\${X}" }\n${minimal("http://h")}`,
      { X: "h\nport: 1" },
      (c) => c.listen,
      { host: "h\nport: 1", port: 8080, trustForwardedHeaders: false },
    ],
    [
      "a number from env",
      `listen:\n  port: \${PORT}\n${minimal("http://h")}`,
      { PORT: "8081" },
      (c) => c.listen.port,
      8081,
    ],
    [
      "a number from env, quoted in a flow map",
      `listen: { port: "\${PORT}" }\n${minimal("http://h")}`,
      { PORT: "8082" },
      (c) => c.listen.port,
      8082,
    ],
    [
      "a number from a default",
      `listen:\n  port: \${PORT:-8083}\n${minimal("http://h")}`,
      {},
      (c) => c.listen.port,
      8083,
    ],
    [
      "a boolean from env",
      `listen:\n  trustForwardedHeaders: \${TRUST}\n${minimal("http://h")}`,
      { TRUST: "true" },
      (c) => c.listen.trustForwardedHeaders,
      true,
    ],
    [
      "keys are not interpolated",
      'routes:\n  - id: r\n    match: {}\n    upstream: http://h\n    auth: { mode: optional, claims: { "${K}": v } }\nissuers:\n  - { id: i, issuer: http://127.0.0.1/, jwksUri: http://127.0.0.1/j, anyClient: true }\n',
      { K: "k" },
      (c) => c.routes[0]?.auth.claims,
      { "${K}": "v" },
    ],
  ];
  for (const [name, text, env, pick, expected] of cases) {
    t.strictSame(pick(parseConfigText(text, env)), expected, name);
  }
});

t.test("${ENV} problems name the path and the variable", async (t) => {
  const cases: Array<[name: string, text: string, env: NodeJS.ProcessEnv, expected: string[]]> = [
    ["missing", minimal("${UP}"), {}, ["routes[0].upstream: environment variable UP is not set"]],
    [
      "every missing one, in document order",
      `listen:\n  host: \${HOST}\n  port: \${PORT}\n${minimal("http://${A}:${B}")}`,
      { B: "1" },
      [
        "listen.host: environment variable HOST is not set",
        "listen.port: environment variable PORT is not set",
        "routes[0].upstream: environment variable A is not set",
      ],
    ],
    [
      "in lists and quoted keys",
      'issuers:\n  - id: i\n    issuer: http://127.0.0.1/\n    jwksUri: http://127.0.0.1/j\n    clientIds: [a, "${CLIENT}"]\nroutes:\n  - id: r\n    upstream: http://h\n    auth: { claims: { "custom:tenant": "${TENANT}" } }\n',
      {},
      [
        "issuers[0].clientIds[1]: environment variable CLIENT is not set",
        'routes[0].auth.claims["custom:tenant"]: environment variable TENANT is not set',
      ],
    ],
    ["a top-level string", "${X}", {}, ["(top level): environment variable X is not set"]],
  ];
  for (const [name, text, env, expected] of cases) t.strictSame(problemsOf(text, env), expected, name);
});

t.test("${ENV} problems come with the schema's, without the ones the empty stand-in causes", async (t) => {
  const cases: Array<[name: string, text: string, env: NodeJS.ProcessEnv, expected: string[]]> = [
    [
      "an unset variable does not hide a wrong type elsewhere",
      `listen:\n  port: \${PORT}\nroutes: 5\n`,
      {},
      ["listen.port: environment variable PORT is not set", "routes: expected a list of routes"],
    ],
    [
      "nor a cross-check elsewhere",
      `admin:\n  host: \${ADMIN_HOST}\n${minimal("http://h")}  - { id: r, upstream: http://h, auth: { mode: public } }\n`,
      {},
      ["admin.host: environment variable ADMIN_HOST is not set", 'routes[1].id: duplicate route id "r"'],
    ],
    [
      "the stand-in's own problems are dropped, also inside the value (the url of an upstream string)",
      `listen:\n  host: \${HOST}\n  port: \${PORT}\n${minimal("http://${UP_HOST}:1")}`,
      {},
      [
        "listen.host: environment variable HOST is not set",
        "listen.port: environment variable PORT is not set",
        "routes[0].upstream: environment variable UP_HOST is not set",
      ],
    ],
    [
      "a problem beside the value is kept: its own key is right, another one is wrong",
      'issuers:\n  - id: i\n    issuer: "${ISSUER}"\n    anyClient: true\nroutes:\n  - { id: r, upstream: http://h }\n',
      {},
      [
        "issuers[0].issuer: environment variable ISSUER is not set",
        "issuers[0].jwksUri: required with issuer",
      ],
    ],
    [
      "a value that is valid even empty: only the variable",
      'routes:\n  - { id: r, upstream: http://h, auth: { mode: public } }\nlisten: { host: "h${SUFFIX}" }\n',
      {},
      ["listen.host: environment variable SUFFIX is not set"],
    ],
  ];
  for (const [name, text, env, expected] of cases) t.strictSame(problemsOf(text, env), expected, name);
});

t.test("numbers and booleans from env are still checked", async (t) => {
  const port = (v: string) => problemsOf(`listen:\n  port: \${PORT}\n${minimal("http://h")}`, { PORT: v });
  t.strictSame(port("80x"), ["listen.port: expected a whole number"]);
  t.strictSame(port("70000"), ["listen.port: expected a number from 0 to 65535"]);
  t.strictSame(port("-1"), ["listen.port: expected a whole number"]);
  t.strictSame(port("8.5"), ["listen.port: expected a whole number"]);
  t.strictSame(problemsOf(`listen:\n  trustForwardedHeaders: \${T}\n${minimal("http://h")}`, { T: "yes" }), [
    "listen.trustForwardedHeaders: expected true or false",
  ]);
});

t.test("an unquoted ${X} inside a YAML flow map is a YAML error", async (t) => {
  // `{` and `}` are flow indicators: inside { … } the reference must be quoted.
  t.strictSame(problemsOf(`listen: { port: \${PORT} }\n${minimal("http://h")}`, { PORT: "1" }), [
    "(yaml): Unexpected flow-map-start at node end at line 1, column 18:",
  ]);
});

t.test("interpolate", async (t) => {
  const problems: Problem[] = [];
  const input = { a: "${X}", b: [1, true, null, "${Y:-y}"], c: { d: "$$", e: 2.5 } };
  t.strictSame(interpolate(input, { X: "x" }, problems), {
    a: "x",
    b: [1, true, null, "y"],
    c: { d: "$", e: 2.5 },
  });
  t.strictSame(problems, []);
  t.strictSame(
    input,
    { a: "${X}", b: [1, true, null, "${Y:-y}"], c: { d: "$$", e: 2.5 } },
    "input unchanged",
  );

  const more: Problem[] = [];
  t.equal(interpolate("${A}-${B}", {}, more, ["x", 0]), "-");
  t.strictSame(more.map(formatProblem), [
    "x[0]: environment variable A is not set",
    "x[0]: environment variable B is not set",
  ]);
  t.strictSame(more[0]?.path, ["x", 0], "the path is kept as it is, to match the schema's problems");
  t.equal(interpolate("${lower_case1}", { lower_case1: "ok" }, []), "ok");
  t.equal(interpolate("${1X}", {}, []), "${1X}", "not a variable name: left as written");
  t.equal(interpolate("${X-y}", {}, []), "${X-y}", "only :- gives a default");
});

t.test("YAML errors", async (t) => {
  const cases: Array<[name: string, text: string, expected: string[]]> = [
    [
      "duplicate key",
      "listen:\n  port: 1\n  port: 2\n",
      ["(yaml): Map keys must be unique at line 3, column 3:"],
    ],
    [
      "duplicate top-level key",
      "routes: []\nroutes: []\n",
      ["(yaml): Map keys must be unique at line 2, column 1:"],
    ],
    [
      "unclosed flow sequence",
      "routes: [\n",
      [
        "(yaml): Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1:",
      ],
    ],
    [
      "tab indentation",
      "routes:\n\t- id: x\n",
      ["(yaml): Tabs are not allowed as indentation at line 2, column 1:"],
    ],
    [
      "two documents",
      "a: 1\n---\nb: 2\n",
      [
        "(yaml): Source contains multiple documents; please use YAML.parseAllDocuments() at line 2, column 1:",
      ],
    ],
    [
      "alias bomb",
      "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
      ["(yaml): Excessive alias count indicates a resource exhaustion attack"],
    ],
  ];
  for (const [name, text, expected] of cases) t.strictSame(problemsOf(text), expected, name);
});

t.test("YAML anchors and aliases within the limit work", async (t) => {
  const text =
    "routes:\n  - { id: a, match: { path: /a }, upstream: &up http://127.0.0.1:3000, auth: { mode: public } }\n  - { id: b, match: { path: /b }, upstream: *up, auth: { mode: public } }\n";
  const config = parseConfigText(text, {});
  t.equal(config.routes[1]?.upstream.url, "http://127.0.0.1:3000");
});

t.test("a __proto__ key is reported, not turned into the prototype", {}, async (t) => {
  const route = "routes:\n  - { id: r, upstream: http://127.0.0.1:3000, auth: { mode: public } }\n";
  t.strictSame(problemsOf(`__proto__: { limits: { maxTokenBytes: 300 } }\n${route}`), [
    "__proto__: unknown key",
  ]);
  t.strictSame(problemsOf(`__proto__: { x: 1 }\n${route}`), ["__proto__: unknown key"]);
});

t.test("an empty or non-map document", async (t) => {
  t.strictSame(problemsOf(""), ["routes: required"]);
  t.strictSame(problemsOf("# only a comment\n"), ["routes: required"]);
  for (const text of ["42", "- a\n", "just text"]) {
    const problems = problemsOf(text);
    t.equal(problems.length, 1, text);
    t.equal(problems[0], "(top level): expected a mapping", text);
  }
});

t.test("parseConfigText reads process.env by default", async (t) => {
  const name = "CUPBEARER_LOAD_TEST_UPSTREAM";
  process.env[name] = "http://127.0.0.1:4321";
  t.teardown(() => {
    delete process.env[name];
  });
  t.equal(parseConfigText(minimal(`\${${name}}`)).routes[0]?.upstream.url, "http://127.0.0.1:4321");
});

t.test("loadConfigFile", async (t) => {
  const dir = t.testdir({ "good.yaml": EXAMPLE, "bad.yaml": "routes: 5\n", "env.yaml": minimal("${UP}") });
  const config = await loadConfigFile(join(dir, "good.yaml"), {});
  t.strictSame(
    config.routes.map((r) => r.id),
    ["status", "orders"],
  );
  t.strictSame(
    (await loadConfigFile(join(dir, "env.yaml"), { UP: "http://h:1" })).routes[0]?.upstream.url,
    "http://h:1",
  );

  const problems = async (file: string) => {
    try {
      await loadConfigFile(file, {});
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };
  t.strictSame(await problems(join(dir, "bad.yaml")), ["routes: expected a list of routes"]);
  const missing = join(dir, "missing.yaml");
  t.strictSame(await problems(missing), [`(file): cannot read ${missing}: ENOENT`]);
  t.strictSame(await problems(dir), [`(file): cannot read ${dir}: EISDIR`]);
});
