import { parseConfig } from "../../src/config/schema.js";
import { ConfigError } from "../../src/config/types.js";

/** Edit value that removes the key (or list item) instead of setting it. */
export const REMOVE = Symbol("remove");
/** A dotted path into the document ("routes.1.auth.scopes") and its new value, or REMOVE. */
export type Edit = [path: string, value: unknown];
export type Case = [name: string, edits: Edit[], problems: string[]];

/** The problems parseConfig reports; throws (failing the test) when it accepts the document. */
export function problemsOf(doc: unknown): string[] {
  try {
    parseConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("the config was accepted");
}

/** Table-driven config tests: each case is a base document with a few edits. */
export function configEdits(base: unknown) {
  const edited = (edits: readonly Edit[]): unknown => {
    const doc = structuredClone(base) as unknown;
    for (const [path, value] of edits) {
      const keys = path.split(".");
      let node = doc as Record<string, unknown>;
      for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
      const last = keys[keys.length - 1] as string;
      if (value !== REMOVE) node[last] = value;
      else if (Array.isArray(node)) node.splice(Number(last), 1);
      else delete node[last];
    }
    return doc;
  };
  return {
    edited,
    /** Asserts each case's exact problems, in order. */
    check(
      t: { strictSame: (found: unknown, wanted: unknown, message: string) => boolean },
      cases: readonly Case[],
    ): void {
      for (const [name, edits, problems] of cases) t.strictSame(problemsOf(edited(edits)), problems, name);
    },
    /** Asserts that each edited document parses. */
    accepts(
      t: { doesNotThrow: (fn: () => unknown, message: string) => unknown },
      ok: readonly [string, Edit[]][],
    ): void {
      for (const [name, edits] of ok) t.doesNotThrow(() => parseConfig(edited(edits)), name);
    },
  };
}
