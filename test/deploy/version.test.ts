/**
 * One version everywhere a user meets it: package.json, the Dockerfile's VERSION, the image tag
 * in the Kustomize component's `images:` entry, the `docker build`/`push` commands of
 * deploy/README.md, the newest release in CHANGELOG.md, and `cupbearer --version`. And one
 * Node.js range: package.json's engines, as the README states it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parse } from "yaml";
import { runMain } from "../support/cli.js";

const ROOT = join(import.meta.dirname, "../..");
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");
const pkg = JSON.parse(read("package.json")) as { version: string; engines: { node: string } };

t.test("the version is the same everywhere", async (t) => {
  t.match(pkg.version, /^\d+\.\d+\.\d+$/, "a plain semantic version");
  t.equal(/^ARG VERSION=(\S+)$/m.exec(read("Dockerfile"))?.[1], pkg.version, "Dockerfile ARG VERSION");
  const component = parse(read("deploy/components/sidecar/kustomization.yaml")) as {
    images: Array<{ name: string; newName: string; newTag: string }>;
  };
  t.strictSame(
    component.images,
    [{ name: "cupbearer", newName: "registry.example.com/cupbearer", newTag: pkg.version }],
    "the component's images entry: the one place the manifests name the image",
  );
  for (const file of ["deploy/README.md", "deploy/components/sidecar/kustomization.yaml"]) {
    const tags = [...read(file).matchAll(/registry\.example\.com\/cupbearer:(\S+?)[\s`]/g)].map((m) => m[1]);
    t.ok(tags.length > 0, `${file} names the image`);
    t.ok(
      tags.every((tag) => tag === pkg.version),
      `${file}: every tag is ${pkg.version} (${tags.join(", ")})`,
    );
  }
  const released = [...read("CHANGELOG.md").matchAll(/^## (\S+)/gm)]
    .map((m) => m[1])
    .filter((v) => v !== "Unreleased");
  t.equal(released[0], pkg.version, "CHANGELOG.md's newest release");
  const printed = await runMain(t, ["--version"]);
  t.equal(printed.stdout.trim(), pkg.version, "cupbearer --version");
});

t.test("the supported Node.js versions, as the README says", async (t) => {
  const min = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node);
  t.ok(min, `engines.node is a lower bound (${pkg.engines.node})`);
  const readme = read("README.md");
  t.match(readme, `Needs Node.js ${min?.[1]}.${min?.[2]} or newer`, "the README states the same minimum");
  const major = Number(process.versions.node.split(".")[0]);
  t.ok(major >= Number(min?.[1]), `this Node (${process.versions.node}) is in the range`);
  const image = /^ARG RUNTIME_IMAGE=.*nodejs(\d+)/m.exec(read("Dockerfile"))?.[1];
  t.ok(Number(image) >= Number(min?.[1]), `the image's Node ${image} is in the range`);
});
