/**
 * The config's JSON Schema, generated from the zod shape (shape.ts) so there is one source:
 * `cupbearer schema` prints it, config/cupbearer.schema.json is it (a test keeps the two
 * equal), and editors with the YAML language server complete and check keys with it.
 *
 * zod describes what it can (types, ranges, enums, patterns, defaults, unknown keys refused);
 * this module adds what it cannot: a route's `upstream` may be a URL string, every value may be a
 * `${ENV}` reference (interpolated before validation), and numbers and booleans may come as
 * strings from it. Checks that need code (cross-checks, path normalization) stay in cupbearer:
 * `cupbearer check` is the full check, the schema a faithful first pass.
 */
import { z } from "zod";
import { DYNAMODB_OPERATIONS } from "../core/dynamodb-scope.js";
import { configSchema } from "./shape.js";

/** A JSON Schema node (draft-07), as far as this module reads and writes it. */
export interface JsonSchema {
  [key: string]: unknown;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  pattern?: string;
}

/** Where the schema is published beside the package's files, for `$id`. */
export const SCHEMA_FILE = "config/cupbearer.schema.json";

/** A `${NAME}` or `${NAME:-default}` somewhere in a string: the value is known only at start-up. */
const ENV_REFERENCE: JsonSchema = {
  type: "string",
  pattern: "\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}",
  description: "an environment variable reference, replaced at start-up",
};

const isSchema = (v: unknown): v is JsonSchema => typeof v === "object" && v !== null && !Array.isArray(v);

/** The node, widened to also take a `${ENV}` reference (and the string forms interpolation yields). */
function withEnv(node: JsonSchema): JsonSchema {
  const { default: fallback, description, ...rest } = node;
  const meta = {
    ...(fallback === undefined ? {} : { default: fallback }),
    ...(description === undefined ? {} : { description }),
  };
  if (rest.type === "integer" || rest.type === "number") {
    return { ...meta, anyOf: [rest, { type: "string", pattern: "^\\d+$" }, ENV_REFERENCE] };
  }
  if (rest.type === "boolean")
    return { ...meta, anyOf: [rest, { type: "string", enum: ["true", "false"] }, ENV_REFERENCE] };
  if (rest.type === "string" && (rest.pattern !== undefined || rest.enum !== undefined)) {
    return { ...meta, anyOf: [rest, ENV_REFERENCE] };
  }
  return node;
}

/** Every scalar node below `node` widened by {@link withEnv}, depth first. */
function widen(node: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...node };
  if (node.properties !== undefined) {
    out.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, widen(v)]));
  }
  if (isSchema(node.additionalProperties)) out.additionalProperties = widen(node.additionalProperties);
  if (node.items !== undefined) out.items = widen(node.items);
  if (node.anyOf !== undefined) out.anyOf = node.anyOf.map(widen);
  return withEnv(out);
}

let cached: JsonSchema | undefined;

/** The config's JSON Schema (draft-07). The same object on every call: do not modify it. */
export function configJsonSchema(): JsonSchema {
  if (cached !== undefined) return cached;
  const generated = z.toJSONSchema(configSchema, {
    io: "input",
    target: "draft-7",
    // Refinements and preprocessing have no JSON Schema form; their base types do.
    unrepresentable: "any",
  }) as JsonSchema;
  const route = generated.properties?.routes?.items;
  const upstream = route?.properties?.upstream;
  if (route?.properties === undefined || upstream?.properties === undefined) {
    throw new Error("the config shape has no routes[].upstream object: update json-schema.ts");
  }
  const operations = upstream.properties.dynamodb?.properties?.operations?.items;
  if (operations !== undefined) operations.enum = [...DYNAMODB_OPERATIONS].sort();
  // `upstream: http://…` is short for `upstream: { url: http://… }` (a zod preprocess step).
  route.properties.upstream = { anyOf: [{ type: "string", description: "the upstream's URL" }, upstream] };
  const { $schema, ...body } = widen(generated);
  cached = {
    $schema: $schema ?? "http://json-schema.org/draft-07/schema#",
    $id: "https://github.com/cupbearer/cupbearer/blob/main/config/cupbearer.schema.json",
    title: "cupbearer configuration",
    description:
      "Every key is documented in config/README.md. Generated from src/config/shape.ts by `cupbearer schema`.",
    ...body,
  };
  return cached;
}

/** The schema as `cupbearer schema` prints it and config/cupbearer.schema.json holds it. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/**
 * The keys a mapping at `path` (as in a zod issue: keys and list indexes) may have, from the
 * schema; empty when the path leads to no mapping with named keys.
 */
export function keysAt(path: readonly PropertyKey[], schema: JsonSchema = configJsonSchema()): string[] {
  let nodes: JsonSchema[] = [schema];
  for (const seg of path) {
    const next: JsonSchema[] = [];
    const visit = (n: JsonSchema): void => {
      if (n.anyOf !== undefined) n.anyOf.forEach(visit);
      else if (typeof seg === "number") {
        if (n.items !== undefined) next.push(n.items);
      } else if (n.properties?.[String(seg)] !== undefined)
        next.push(n.properties[String(seg)] as JsonSchema);
      else if (isSchema(n.additionalProperties)) next.push(n.additionalProperties);
    };
    nodes.forEach(visit);
    nodes = next;
  }
  const keys = new Set<string>();
  const collect = (n: JsonSchema): void => {
    if (n.anyOf !== undefined) n.anyOf.forEach(collect);
    for (const k of Object.keys(n.properties ?? {})) keys.add(k);
  };
  nodes.forEach(collect);
  return [...keys];
}
