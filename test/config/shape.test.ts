import t from "tap";
import { configSchema } from "../../src/config/shape.js";
import type { Config } from "../../src/config/types.js";

const route = (id: string) => ({ id, upstream: "http://127.0.0.1:3000", auth: { mode: "public" } });

t.test("the shape alone: types, ranges and defaults, no cross-checks", async (t) => {
  const config: Config = configSchema.parse({ routes: [route("a"), route("a")], admin: { port: 8080 } });
  t.strictSame(
    config.routes.map((r) => r.id),
    ["a", "a"],
    "a duplicate id is a cross-check's to find",
  );
  t.equal(config.admin.port, 8080, "so is a port clash");
  t.strictSame(
    config.routes[0]?.upstream,
    { url: "http://127.0.0.1:3000" },
    "a URL string is the object form",
  );
  t.strictSame(config.listen, { host: "0.0.0.0", port: 8080, trustForwardedHeaders: false });
});

t.test("objects are strict, at every level", async (t) => {
  const result = configSchema.safeParse({ routes: [{ ...route("a"), match: { pathPrefx: "/" } }], extra: 1 });
  t.strictSame(
    result.error?.issues.map((i) => [i.code, i.path]),
    [
      ["unrecognized_keys", ["routes", 0, "match"]],
      ["unrecognized_keys", []],
    ],
  );
});

t.test("values from the environment arrive as strings", async (t) => {
  const config = configSchema.parse({
    listen: { port: "8081", trustForwardedHeaders: "true" },
    routes: [{ ...route("a"), stripPrefix: "false" }],
  });
  t.equal(config.listen.port, 8081);
  t.equal(config.listen.trustForwardedHeaders, true);
  t.equal(config.routes[0]?.stripPrefix, false);
});
