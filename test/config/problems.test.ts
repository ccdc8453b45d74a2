import t from "tap";
import { formatPath, formatProblem, isWithin, problemsOfIssues } from "../../src/config/problems.js";
import { configSchema } from "../../src/config/shape.js";

t.test("formatPath", async (t) => {
  const cases: Array<[path: PropertyKey[], expected: string]> = [
    [[], "(top level)"],
    [["routes"], "routes"],
    [["routes", 1, "auth"], "routes[1].auth"],
    [["routes", 0, "auth", "claims", "custom:tenant"], 'routes[0].auth.claims["custom:tenant"]'],
    [["routes", 0, "auth", "claimHeaders", "X_Tenant"], "routes[0].auth.claimHeaders.X_Tenant"],
    [["a b"], '["a b"]'],
    [["9lives"], '["9lives"]'],
    [[0, 1], "[0][1]"],
  ];
  for (const [path, expected] of cases) t.equal(formatPath(path), expected, expected);
});

t.test("formatProblem", async (t) => {
  t.equal(
    formatProblem({ path: ["routes", 2, "upstream"], message: "required" }),
    "routes[2].upstream: required",
  );
  t.equal(formatProblem({ path: [], message: "expected a mapping" }), "(top level): expected a mapping");
});

t.test("zod's issues in cupbearer's words", async (t) => {
  const result = configSchema.safeParse(
    { listen: { port: "x", http2: true, ssl: 1 }, routes: [{ upstream: "http://h" }] },
    { reportInput: true },
  );
  t.notOk(result.success);
  t.strictSame(problemsOfIssues(result.error?.issues ?? []), [
    { path: ["listen", "port"], message: "expected a whole number" },
    { path: ["listen", "http2"], message: "unknown key" },
    { path: ["listen", "ssl"], message: "unknown key" },
    { path: ["routes", 0, "id"], message: "required" },
  ]);
});

t.test("isWithin", async (t) => {
  const cases: Array<[path: PropertyKey[], under: PropertyKey[], expected: boolean]> = [
    [["routes", 0, "upstream"], ["routes", 0, "upstream"], true],
    [["routes", 0, "upstream", "url"], ["routes", 0, "upstream"], true],
    [["routes", 0], ["routes", 0, "upstream"], false],
    [["routes", 1, "upstream"], ["routes", 0, "upstream"], false],
    [["routes", "0"], ["routes", 0], false],
    [["anything"], [], true],
  ];
  for (const [path, under, expected] of cases) {
    t.equal(isWithin(path, under), expected, `${formatPath(path)} within ${formatPath(under)}`);
  }
});
