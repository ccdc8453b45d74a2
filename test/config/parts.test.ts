import t from "tap";
import { z } from "zod";
import { eachPart, MALFORMED, ok, parseParts } from "../../src/config/parts.js";
import { configSchema } from "../../src/config/shape.js";

t.test("values that are not mappings or lists: parsed whole, or MALFORMED", async (t) => {
  const port = z.preprocess((v) => (typeof v === "string" ? Number(v) : v), z.number().int());
  const cases: Array<[name: string, schema: z.ZodType, input: unknown, expected: unknown]> = [
    ["a valid string", z.string().min(1), "a", "a"],
    ["an invalid string", z.string().min(1), "", MALFORMED],
    ["the wrong type", z.string(), 5, MALFORMED],
    ["optional, left out", z.string().optional(), undefined, undefined],
    ["optional, invalid", z.string().optional(), 5, MALFORMED],
    ["a default, left out", z.string().default("d"), undefined, "d"],
    ["a default, given", z.string().default("d"), "x", "x"],
    ["a default, invalid", z.string().default("d"), 5, MALFORMED],
    ["preprocessed", port, "8080", 8080],
    ["preprocessed, invalid", port, "x", MALFORMED],
    [
      "a preprocessing step that refuses",
      z.preprocess((v, ctx) => {
        ctx.addIssue({ code: "custom", message: "no", input: v });
        return v;
      }, z.string()),
      "x",
      MALFORMED,
    ],
    ["a record is whole", z.record(z.string(), z.string()), { a: "x", b: 5 }, MALFORMED],
    ["a union is whole", z.union([z.string(), z.number()]), true, MALFORMED],
  ];
  for (const [name, schema, input, expected] of cases)
    t.strictSame(parseParts(schema, input), expected, name);
});

t.test("mappings and lists: each key and item on its own", async (t) => {
  const item = z.strictObject({ id: z.string(), n: z.number().default(1) });
  const schema = z.strictObject({
    items: z.array(item).min(1),
    pair: z
      .strictObject({ a: z.string().optional(), b: z.string().optional() })
      .refine((p) => p.a === undefined || p.b === undefined)
      .prefault({}),
  });
  t.strictSame(
    parseParts(schema, { items: [{ id: "x" }, { id: 5, n: 2 }, "nope"], pair: { a: "1", b: "2" }, extra: 1 }),
    { items: [{ id: "x", n: 1 }, { id: MALFORMED, n: 2 }, MALFORMED], pair: { a: "1", b: "2" } },
    "unknown keys are left to the shape; checks on a whole mapping do not mark its keys",
  );
  t.strictSame(parseParts(schema, {}), { items: MALFORMED, pair: {} }, "required and missing; a prefault");
  t.strictSame(
    parseParts(schema, { items: [] }),
    { items: [], pair: {} },
    "a check on a whole list (min) marks nothing",
  );
  for (const input of [5, "x", null, [1]])
    t.equal(parseParts(schema, input), MALFORMED, JSON.stringify(input));
});

t.test("the configuration's parts", async (t) => {
  const parts = parseParts(configSchema, {
    listen: { port: "x", host: "h" },
    limits: 5,
    routes: [5, { id: "-", upstream: "ftp://h", auth: { mode: "public", scopes: ["a", 1] } }],
  });
  t.match(parts, {
    listen: { host: "h", port: MALFORMED, trustForwardedHeaders: false },
    admin: { host: "127.0.0.1", port: 9090 },
    limits: MALFORMED,
    issuers: [],
    routes: [
      MALFORMED,
      {
        id: MALFORMED,
        match: {},
        upstream: { url: MALFORMED, aws: undefined },
        stripPrefix: false,
        auth: {
          mode: "public",
          tokenUse: "any",
          scopes: ["a", MALFORMED],
          token: { header: "authorization" },
        },
      },
    ],
  });
});

t.test("ok and eachPart", async (t) => {
  t.equal(ok(MALFORMED), false);
  t.equal(ok(undefined), true);
  const seen: Array<[string, number]> = [];
  eachPart(["a", MALFORMED, "c"], (item, i) => seen.push([item, i]));
  t.strictSame(
    seen,
    [
      ["a", 0],
      ["c", 2],
    ],
    "malformed items are skipped, indexes kept",
  );
  eachPart(MALFORMED, () => t.fail("a malformed list has no items"));
});
