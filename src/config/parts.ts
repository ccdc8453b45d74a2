import { z } from "zod";

/**
 * The well-formed parts of a document the shape may have refused as a whole, so the cross-checks
 * can run on every part the shape accepts and never on one it refused: `check` then reports the
 * shape's problems and the cross-checks' together, and a cross-check never sees a value of the
 * wrong type (so an exception there is a bug, not a malformed config).
 */

/** Stands for a value the shape refused; its own problem is reported by the shape. */
export const MALFORMED: unique symbol = Symbol("malformed");
export type Malformed = typeof MALFORMED;

/**
 * `T` with MALFORMED allowed at every level: each mapping key and each list item is its parsed
 * value (defaults filled in) or MALFORMED. Other values (strings, records, unions) are whole.
 */
export type Parts<T> =
  | (T extends readonly (infer U)[] ? Parts<U>[] : T extends object ? { [K in keyof T]: Parts<T[K]> } : T)
  | Malformed;

/** A mapping the shape accepted as a mapping; its keys are still parts. */
export type Part<T> = Exclude<Parts<T>, Malformed>;

/** Narrows a part to its well-formed value. */
export function ok<T>(part: T | Malformed): part is T {
  return part !== MALFORMED;
}

/** Runs `check` on each well-formed item of a list part, with its index; on none when the list is malformed. */
export function eachPart<T>(
  list: (T | Malformed)[] | Malformed,
  check: (item: T, index: number) => void,
): void {
  if (!ok(list)) return;
  list.forEach((item, i) => {
    if (ok(item)) check(item, i);
  });
}

/**
 * Parses `input` with `schema` part by part: each key of a mapping and each item of a list on its
 * own, down to the values that are not mappings or lists. Checks a schema makes on a mapping or a
 * list as a whole (`.refine`, `.min`) do not mark its parts: the shape reports them.
 */
export function parseParts(schema: z.core.$ZodType, input: unknown): unknown {
  if (schema instanceof z.ZodOptional) {
    return input === undefined ? undefined : parseParts(schema.unwrap(), input);
  }
  if ((schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault) && input !== undefined) {
    return parseParts(schema.unwrap(), input);
  }
  if (schema instanceof z.ZodPipe && schema.in instanceof z.ZodTransform) {
    // z.preprocess: the step before the schema, then the schema.
    const step = z.safeParse(schema.in, input);
    return step.success ? parseParts(schema.out, step.data) : MALFORMED;
  }
  if (schema instanceof z.ZodObject) {
    if (typeof input !== "object" || input === null || Array.isArray(input)) return MALFORMED;
    const fields = input as Record<string, unknown>;
    const shape: Record<string, z.core.$ZodType> = schema.shape;
    return Object.fromEntries(
      Object.entries(shape).map(([key, field]) => [key, parseParts(field, fields[key])]),
    );
  }
  if (schema instanceof z.ZodArray) {
    return Array.isArray(input) ? input.map((item) => parseParts(schema.element, item)) : MALFORMED;
  }
  const whole = z.safeParse(schema, input);
  return whole.success ? whole.data : MALFORMED;
}
