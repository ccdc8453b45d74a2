import type { z } from "zod";
import { didYouMean } from "./suggest.js";

/** One thing wrong with a configuration: where, and why. */
export interface Problem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** `["routes", 1, "auth"]` → `routes[1].auth` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const s = String(seg);
      const plain = /^[A-Za-z_][A-Za-z0-9_]*$/.test(s);
      out += plain ? (out === "" ? s : `.${s}`) : `[${JSON.stringify(s)}]`;
    }
  }
  return out === "" ? "(top level)" : out;
}

/** `routes[1].auth.scopes: expected a list of strings` */
export function formatProblem(problem: Problem): string {
  return `${formatPath(problem.path)}: ${problem.message}`;
}

/**
 * Zod's issues in cupbearer's words: one problem per unknown key, `required` for a missing one,
 * and a "did you mean" for a misspelt key (from `keysAt`, the keys a mapping may have) or enum
 * value.
 */
export function problemsOfIssues(
  issues: readonly z.core.$ZodIssue[],
  keysAt: (path: readonly PropertyKey[]) => readonly string[] = () => [],
): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(issue.path);
      return issue.keys.map((key) => ({
        path: [...issue.path, key],
        message: `unknown key${didYouMean(key, known)}`,
      }));
    }
    if (issue.code === "invalid_type" && issue.input === undefined)
      return [{ path: issue.path, message: "required" }];
    if (issue.code === "invalid_value" && typeof issue.input === "string") {
      const values = issue.values.filter((v): v is string => typeof v === "string");
      return [{ path: issue.path, message: `${issue.message}${didYouMean(issue.input, values)}` }];
    }
    return [{ path: issue.path, message: issue.message }];
  });
}

/** True when `path` is `under` or inside it. */
export function isWithin(path: readonly PropertyKey[], under: readonly PropertyKey[]): boolean {
  return under.length <= path.length && under.every((seg, i) => path[i] === seg);
}

/** How a check reports a problem at a path. */
export type Report = (path: (string | number)[], message: string) => void;
