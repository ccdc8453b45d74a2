import { crossCheck } from "./cross-checks.js";
import { keysAt } from "./json-schema.js";
import { type Parts, parseParts } from "./parts.js";
import { formatProblem, type Problem, problemsOfIssues } from "./problems.js";
import { configSchema } from "./shape.js";
import { type Config, ConfigError } from "./types.js";

/**
 * The configuration's schema as one function: the shape (shape.ts), then the cross-checks
 * (cross-checks.ts), with every problem of both reported together.
 */

/** A checked document: the config when nothing is wrong with it, else every problem found. */
export type CheckedConfig =
  | { readonly config: Config; readonly problems: readonly [] }
  | { readonly config: undefined; readonly problems: readonly Problem[] };

/** unknown → every problem of the document (shape first, then cross-checks), and the config when there are none. */
export function checkConfig(input: unknown): CheckedConfig {
  const doc = input ?? {};
  const shaped = configSchema.safeParse(doc, { reportInput: true });
  if (shaped.success) {
    const problems = crossCheck(shaped.data);
    return problems.length === 0 ? { config: shaped.data, problems: [] } : { config: undefined, problems };
  }
  // Cast: the shape's output is exactly Config (shape.ts asserts it at compile time), and
  // parseParts keeps that structure, putting MALFORMED where the shape refused a value.
  const parts = parseParts(configSchema, doc) as Parts<Config>;
  return {
    config: undefined,
    problems: [...problemsOfIssues(shaped.error.issues, (path) => keysAt(path)), ...crossCheck(parts)],
  };
}

/** unknown → Config, or a ConfigError naming every problem as `path: why`. */
export function parseConfig(input: unknown): Config {
  const { config, problems } = checkConfig(input);
  if (config === undefined) throw new ConfigError(problems.map(formatProblem));
  return config;
}
