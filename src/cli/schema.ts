/**
 * `cupbearer schema`: prints the config's JSON Schema (generated from the zod shape; see
 * src/config/json-schema.ts), for editors and CI linters. The package ships the same text as
 * config/cupbearer.schema.json.
 */
import { configJsonSchemaText } from "../config/json-schema.js";

export function schemaCommand(io: { stdout: { write(text: string): unknown } }): number {
  io.stdout.write(configJsonSchemaText());
  return 0;
}
