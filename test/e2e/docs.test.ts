import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parseConfigText } from "../../src/config/load.js";

/** The README's examples are the ones the code accepts: docs that drift fail here. */
const root = join(import.meta.dirname, "../..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const yamlBlocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);

t.test("every YAML config in the README is valid", async (t) => {
  t.ok(yamlBlocks.length >= 2, `found ${yamlBlocks.length} YAML blocks`);
  for (const block of yamlBlocks) {
    t.doesNotThrow(() => parseConfigText(block, {}), block.split("\n", 1)[0] ?? "");
  }
});

for (const example of ["legacy-api.yaml", "aws.yaml"]) {
  t.test(`the README's example is config/${example}, byte for byte`, async (t) => {
    const file = readFileSync(join(root, "config", example), "utf8");
    const body = file.slice(file.indexOf("listen:")).trimEnd();
    t.ok(
      yamlBlocks.some((b) => b.trimEnd() === body),
      "README's block matches the file from its first key on",
    );
  });
}
