import t from "tap";
import { ConfigError } from "../../src/config/types.js";

t.test("ConfigError lists every problem", async (t) => {
  const err = new ConfigError(["a: x", "b[0]: y"]);
  t.equal(err.name, "ConfigError");
  t.strictSame(err.problems, ["a: x", "b[0]: y"]);
  t.equal(err.message, "invalid configuration:\n  a: x\n  b[0]: y");
  t.ok(err instanceof Error);
});
