import fc from "fast-check";
import t from "tap";
import { crossCheck } from "../../src/config/cross-checks.js";
import { MALFORMED, type Parts, parseParts } from "../../src/config/parts.js";
import { formatProblem } from "../../src/config/problems.js";
import { parseConfig } from "../../src/config/schema.js";
import { configSchema } from "../../src/config/shape.js";
import { type Config, ConfigError } from "../../src/config/types.js";
import { configEdits, type Edit, REMOVE } from "../support/config-edits.js";

const POOL_ID = "eu-west-1:11111111-2222-3333-4444-555555555555";

/** A document with every section, every kind of issuer and route; valid as it is. */
const DOC = {
  listen: { host: "0.0.0.0", port: 8080 },
  admin: { host: "127.0.0.1", port: 9090 },
  limits: { headersTimeoutMs: 1000, requestTimeoutMs: 2000, maxHeldBodyBytes: 2_097_152 },
  issuers: [
    { id: "pool", cognito: { region: "eu-west-1", userPoolId: "eu-west-1_AbCdEf123" }, clientIds: ["c"] },
    {
      id: "local",
      issuer: "http://127.0.0.1:9229/x",
      jwksUri: "http://127.0.0.1:9229/x/jwks",
      anyClient: true,
    },
  ],
  identityPools: [
    {
      id: "main",
      identityPoolId: POOL_ID,
      region: "eu-west-1",
      flow: "basic",
      roles: { basicFlowDefault: "arn:aws:iam::123456789012:role/r" },
    },
  ],
  routes: [
    {
      id: "status",
      match: { pathPrefix: "/status" },
      stripPrefix: true,
      upstream: "http://127.0.0.1:3000",
      auth: { mode: "public" },
    },
    {
      id: "orders",
      upstream: { url: "http://127.0.0.1:3000", timeoutMs: 100 },
      auth: {
        issuers: ["pool", "local"],
        tokenUse: "access",
        scopes: ["s"],
        claims: { t: 1 },
        claimHeaders: { "x-t": "t" },
      },
    },
    {
      id: "files",
      upstream: {
        url: "https://bucket.s3.eu-west-1.amazonaws.com",
        aws: { service: "s3", region: "eu-west-1", identityPool: "main" },
        s3: { keyPrefix: "private/{sub}/", addressing: "virtual" },
      },
      auth: { tokenUse: "id", issuers: ["pool"] },
    },
    {
      id: "table",
      upstream: {
        url: "https://dynamodb.eu-west-1.amazonaws.com",
        aws: { service: "dynamodb", region: "eu-west-1", identityPool: "main", maxBodyBytes: 1024 },
        dynamodb: { tables: ["Orders"], operations: ["GetItem"] },
      },
      auth: { mode: "required", forwardToken: false },
    },
  ],
};

const { edited } = configEdits(DOC);

/** The parsed (shape-valid) DOC; each test changes its own copy. */
const parsed = (): Config => configSchema.parse(structuredClone(DOC));

t.test("the shape's output of a valid document has no cross-check problem", async (t) => {
  t.strictSame(crossCheck(parsed()), []);
  t.doesNotThrow(() => parseConfig(DOC));
});

t.test("cross-checks run on the parsed config, and report paths and messages", async (t) => {
  const config = parsed();
  const [status, orders, files, table] = config.routes;
  if (!status || !orders || !files || !table) throw new Error("DOC has four routes");
  orders.id = "status";
  status.auth.scopes = ["a"];
  files.upstream.s3 = { keyPrefix: "private/{sub}/" };
  table.upstream.aws = {
    service: "dynamodb",
    region: "eu-west-1",
    identityPool: "other",
    maxBodyBytes: 4_194_304,
  };
  config.admin = { host: "0.0.0.0", port: 8080 };
  t.strictSame(crossCheck(config), [
    { path: ["routes", 0, "auth", "scopes"], message: "has no effect on a public route" },
    { path: ["routes", 1, "id"], message: 'duplicate route id "status"' },
    {
      path: ["routes", 2, "upstream", "s3", "addressing"],
      message: "must be virtual: the upstream's host names a bucket (bucket.s3.…)",
    },
    { path: ["routes", 3, "upstream", "aws", "identityPool"], message: 'unknown identity pool "other"' },
    { path: ["admin", "port"], message: "must differ from listen.port" },
    {
      path: ["routes", 3, "upstream", "aws", "maxBodyBytes"],
      message: "must not exceed limits.maxHeldBodyBytes",
    },
  ]);
});

t.test("a part the shape refused is skipped by every check that reads it", async (t) => {
  const problemsOfParts = (edits: Edit[]) =>
    crossCheck(parseParts(configSchema, edited(edits)) as Parts<Config>).map(formatProblem);
  t.strictSame(crossCheck(MALFORMED), [], "a document that is not a mapping");
  const cases: Array<[name: string, edits: Edit[], problems: string[]]> = [
    [
      "no port comparison without a usable listen.port",
      [
        ["listen.port", "x"],
        ["admin", { host: "0.0.0.0", port: 8080 }],
      ],
      [],
    ],
    [
      "no timeout comparison without a usable requestTimeoutMs",
      [["limits", { headersTimeoutMs: 5000, requestTimeoutMs: "soon" }]],
      [],
    ],
    [
      "a malformed rule is not also 'no effect on a public route'",
      [["routes.0.auth", { mode: "public", scopes: "a" }]],
      [],
    ],
    [
      "an unknown mode is not said to need issuers; the known ones are",
      [
        ["issuers", []],
        ["routes.1.auth", { mode: "maybe" }],
        ["routes.2.auth.issuers", REMOVE],
      ],
      [
        "routes[2].auth.mode: required needs at least one entry in issuers",
        "routes[3].auth.mode: required needs at least one entry in issuers",
      ],
    ],
    [
      "a malformed anyClient is neither true nor false",
      [
        ["issuers.0.clientIds", REMOVE],
        ["issuers.1.anyClient", "yes"],
      ],
      [
        "issuers[0].clientIds: required: list the app clients whose tokens are accepted, or set anyClient: true",
      ],
    ],
  ];
  for (const [name, edits, problems] of cases) t.strictSame(problemsOfParts(edits), problems, name);
});

t.test("an exception in a cross-check is a bug, and surfaces", async (t) => {
  // Values the shape never lets through, put straight into a parsed config: a check that reads
  // them fails loudly instead of being skipped in silence.
  const config = parsed();
  const local = config.issuers[1];
  if (!local) throw new Error("DOC has two issuers");
  local.jwksUri = "not a url";
  t.throws(() => crossCheck(config), TypeError);
});

t.test("whatever the document holds, parseConfig answers with a Config or a ConfigError", async (t) => {
  // Every key path of DOC, containers included: each edit puts a value of any type there.
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (path.length > 0) paths.push(path);
    if (typeof v !== "object" || v === null) return;
    for (const [k, item] of Object.entries(v)) walk(item, [...path, Array.isArray(v) ? Number(k) : k]);
  };
  walk(DOC, []);
  const tricky = fc.constantFrom(
    "",
    "true",
    "false",
    "0",
    "8080",
    "http://h",
    "http://10.0.0.1/x",
    "s3",
    "dynamodb",
    "public",
    "optional",
    "basic",
    "enhanced",
    "access",
    "{sub}/",
    "main",
    "pool",
    "status",
    POOL_ID,
    "eu-west-1_AbCdEf123",
    "us-east-1",
  );
  const value = fc.oneof(tricky, fc.anything(), fc.constant(undefined), fc.integer(), fc.boolean());
  const edits = fc.array(fc.tuple(fc.nat(paths.length - 1), value), { minLength: 1, maxLength: 4 });
  fc.assert(
    fc.property(edits, (list) => {
      const doc = structuredClone(DOC) as unknown as Record<string | number, unknown>;
      for (const [i, v] of list) {
        const path = paths[i] ?? [];
        let node: Record<string | number, unknown> | undefined = doc;
        for (const k of path.slice(0, -1)) {
          const next: unknown = node?.[k];
          node =
            typeof next === "object" && next !== null
              ? (next as Record<string | number, unknown>)
              : undefined;
        }
        if (node !== undefined) node[path[path.length - 1] as string | number] = v;
      }
      try {
        parseConfig(doc);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
      }
    }),
    { numRuns: 400 },
  );
  t.pass("no exception but ConfigError");
});

t.test(
  "more than one issuer: groups, scopes and claims need auth.issuers; {sub} needs one issuer",
  async (t) => {
    const problemsOfEdits = (edits: Edit[]) =>
      crossCheck(configSchema.parse(edited(edits))).map(formatProblem);
    const needs = "needs auth.issuers: with more than one issuer, name those whose tokens it judges";
    t.strictSame(problemsOfEdits([["routes.1.auth.issuers", REMOVE]]), [
      `routes[1].auth.scopes: ${needs}`,
      `routes[1].auth.claims: ${needs}`,
    ]);
    t.strictSame(
      problemsOfEdits([
        ["routes.1.auth.issuers", REMOVE],
        ["routes.1.auth.scopes", []],
        ["routes.1.auth.claims", {}],
        ["routes.1.auth.groups", ["admin"]],
      ]),
      [`routes[1].auth.groups: ${needs}`],
    );
    t.strictSame(
      problemsOfEdits([
        ["routes.1.auth.issuers", REMOVE],
        ["issuers", [DOC.issuers[0]]],
      ]),
      [],
      "one issuer: the rule is unambiguous",
    );
    const sub =
      "routes[2].upstream.s3.keyPrefix: has {sub}, but the route accepts more than one issuer and a sub is unique only within one: use {identityId} or name one issuer in auth.issuers";
    t.strictSame(problemsOfEdits([["routes.2.auth.issuers", REMOVE]]), [sub], "every issuer of two");
    t.strictSame(problemsOfEdits([["routes.2.auth.issuers", ["pool", "local"]]]), [sub], "two named");
    t.strictSame(
      problemsOfEdits([
        ["routes.2.auth.issuers", REMOVE],
        ["routes.2.upstream.s3.keyPrefix", "private/{identityId}/"],
      ]),
      [],
      "{identityId} is unique per identity pool",
    );
    t.strictSame(problemsOfEdits([["routes.3.forwardRewriteHeaders", ["X-HTTP-Method-Override"]]]), [
      "routes[3].forwardRewriteHeaders: has no effect on an AWS route: AWS never reads them",
    ]);
  },
);
