import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { formatProblem, isWithin, type Problem } from "./problems.js";
import { checkConfig } from "./schema.js";
import { type Config, ConfigError } from "./types.js";

const ENV_REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` (or `${NAME:-default}`) in every string value, after YAML parsing, so an
 * environment variable can never change the document's structure. `$$` stands for a literal `$`.
 * An unset variable (without a default) becomes the empty string and one problem in `unset`, at
 * the path of the value that names it.
 */
export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  unset: Problem[],
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === "string") {
    return value.replace(ENV_REF, (whole, name: string | undefined, fallback: string | undefined) => {
      if (whole === "$$") return "$";
      const v = env[name as string];
      // As in POSIX shells: `${X:-d}` takes the default when X is unset or empty; `${X}` only when unset.
      if (fallback !== undefined) return v === undefined || v === "" ? fallback : v;
      if (v !== undefined) return v;
      unset.push({ path, message: `environment variable ${name} is not set` });
      return "";
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, unset, [...path, i]));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty, not assignment: a "__proto__" key must stay a key (and be refused as
      // unknown), never become the object's prototype.
      Object.defineProperty(out, k, {
        value: interpolate(v, env, unset, [...path, k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/**
 * YAML text → validated Config; every problem in one ConfigError. YAML that does not parse is
 * reported alone; unset environment variables come with every schema problem, except those at
 * or inside a value that names an unset variable (the schema would only see its empty stand-in).
 */
export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env): Config {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`(yaml): ${(err as Error).message.split("\n")[0]}`]);
  }
  const unset: Problem[] = [];
  const { config, problems } = checkConfig(interpolate(doc, env, unset));
  if (config !== undefined && unset.length === 0) return config;
  const own = problems.filter((p) => !unset.some((u) => isWithin(p.path, u.path)));
  throw new ConfigError([...unset, ...own].map(formatProblem));
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

/**
 * The environment variables a config text needs: every `${NAME}` in a string value without a
 * default (`${NAME:-x}` needs none). Keys are never interpolated, so they are not looked at.
 * @throws ConfigError when the text is not YAML.
 */
export function requiredEnvNames(text: string): string[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`(yaml): ${(err as Error).message.split("\n")[0]}`]);
  }
  const names = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === "string") {
      for (const m of v.matchAll(ENV_REF)) if (m[1] !== undefined && m[2] === undefined) names.add(m[1]);
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === "object") Object.values(v).forEach(visit);
  };
  visit(doc);
  return [...names].sort();
}
