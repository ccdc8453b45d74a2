import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { type Config, ConfigError, formatPath, parseConfig } from "./schema.js";

const ENV_REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` (or `${NAME:-default}`) in every string value, after YAML parsing, so an
 * environment variable can never change the document's structure. `$$` stands for a literal `$`.
 */
export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: string[],
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === "string") {
    return value.replace(ENV_REF, (whole, name: string | undefined, fallback: string | undefined) => {
      if (whole === "$$") return "$";
      const v = env[name as string];
      // As in POSIX shells: `${X:-d}` takes the default when X is unset or empty; `${X}` only when unset.
      if (fallback !== undefined) return v === undefined || v === "" ? fallback : v;
      if (v !== undefined) return v;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return "";
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, problems, [...path, i]));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty, not assignment: a "__proto__" key must stay a key (and be refused as
      // unknown), never become the object's prototype.
      Object.defineProperty(out, k, {
        value: interpolate(v, env, problems, [...path, k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/** YAML text → validated Config; every problem (YAML, environment, schema) in one ConfigError. */
export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env): Config {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`(yaml): ${(err as Error).message.split("\n")[0]}`]);
  }
  const problems: string[] = [];
  const interpolated = interpolate(doc, env, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return parseConfig(interpolated);
}

/** Reads and validates a config file. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError([`(file): cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`]);
  }
  return parseConfigText(text, env);
}
