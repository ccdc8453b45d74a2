/**
 * `cupbearer check --config F --manifests DIR|FILE`: reads rendered Kubernetes manifests (one
 * multi-document YAML file, or every .yaml/.yml/.json file under a directory) and names each
 * place they disagree with the config (src/config/manifests.ts). Exit 0 when they agree, 2 when
 * not or when the manifests cannot be read.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { requiredEnvNames } from "../config/load.js";
import { checkManifests, type ManifestObject } from "../config/manifests.js";
import type { Config } from "../config/types.js";

/** Where the command writes; a subset of the CLI's io. */
export interface CheckIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Files under `dir`, depth first, sorted, that hold manifests. */
async function manifestFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await manifestFiles(path)));
    else if (/\.(ya?ml|json)$/i.test(e.name)) out.push(path);
  }
  return out;
}

/** Reads the manifests; a string is a problem that stops the check. */
async function readManifests(target: string): Promise<ManifestObject[] | string> {
  let files: string[];
  try {
    if ((await stat(target)).isDirectory()) {
      files = await manifestFiles(target);
      if (files.some((f) => /(^|\/)kustomization\.ya?ml$/i.test(f))) {
        return `${target} holds a kustomization, not rendered manifests: check what it renders, e.g. kubectl kustomize ${target} > rendered.yaml, then --manifests rendered.yaml`;
      }
    } else files = [target];
  } catch (err) {
    return `cannot read ${target}: ${(err as NodeJS.ErrnoException).code ?? "error"}`;
  }
  const objects: ManifestObject[] = [];
  for (const file of files) {
    const docs = parseAllDocuments(await readFile(file, "utf8"));
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      const [error] = doc.errors;
      if (error !== undefined) return `${file}: not YAML: ${error.message.split("\n")[0]}`;
      const object: unknown = doc.toJS();
      if (object === null || object === undefined) continue;
      // `kubectl get -o yaml` wraps objects in a List.
      const items =
        (object as { kind?: unknown; items?: unknown }).kind === "List"
          ? (object as { items: unknown }).items
          : [object];
      for (const item of Array.isArray(items) ? items : []) objects.push({ source: file, object: item });
    }
  }
  if (objects.length === 0) return `${target}: no manifests found`;
  return objects;
}

/** Runs the cross-check and reports; the config has passed `check` already. */
export async function checkManifestsCommand(
  configFile: string,
  config: Config,
  target: string,
  io: CheckIo,
): Promise<number> {
  const objects = await readManifests(target);
  if (typeof objects === "string") {
    io.stderr.write(`${objects}\n`);
    return 2;
  }
  const text = await readFile(configFile, "utf8");
  const mismatches = checkManifests(objects, { config, text, envNames: requiredEnvNames(text) });
  if (mismatches.length > 0) {
    io.stderr.write(
      `${target}: ${mismatches.length} mismatch${mismatches.length === 1 ? "" : "es"} with ${configFile}\n${mismatches
        .map((m) => `  ${m}`)
        .join("\n")}\n`,
    );
    return 2;
  }
  io.stdout.write(`${target}: matches ${configFile} (${objects.length} objects)\n`);
  return 0;
}
