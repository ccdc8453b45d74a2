// A ts-node transpiler (tsconfig.tap.json's "ts-node".transpiler) that remembers its output on
// disk: every test file is its own process, and each used to transpile again the same dozens of
// src/ modules, about a second of CPU per file. TypeScript's own transpileModule (what ts-node
// runs with transpileOnly) does the work on a miss; a hit is keyed by everything that shapes the
// output: the source, its path, the compiler options, the module kind and TypeScript's version.
// Entries live in node_modules/.cache (gone with `npm ci`), written atomically.
"use strict";
const { createHash } = require("node:crypto");
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");

const VERSION = 1; // bump when this file changes what it emits
const DIR = join(__dirname, "..", "..", "node_modules", ".cache", "cupbearer-ts");

/** @param {{ service: { config: { options: object } }, nodeModuleEmitKind?: string }} createOptions */
exports.create = function create(createOptions) {
  const ts = require("typescript");
  const esm = createOptions.nodeModuleEmitKind !== "nodecjs";
  const compilerOptions = {
    ...createOptions.service.config.options,
    module: esm ? ts.ModuleKind.ESNext : ts.ModuleKind.CommonJS,
    // Emit does not resolve anything; NodeNext resolution would insist on module NodeNext.
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    sourceMap: true,
    inlineSourceMap: false,
    inlineSources: false,
    declaration: false,
    noEmit: false,
  };
  const salt = JSON.stringify([VERSION, ts.version, esm, compilerOptions]);
  mkdirSync(DIR, { recursive: true });
  return {
    transpile(input, { fileName }) {
      const key = createHash("sha256").update(salt).update("\0").update(fileName).update("\0").update(input);
      const file = join(DIR, `${key.digest("hex")}.json`);
      try {
        return JSON.parse(readFileSync(file, "utf8"));
      } catch {
        // not cached yet
      }
      const out = ts.transpileModule(input, { fileName, compilerOptions, reportDiagnostics: true });
      const result = { outputText: out.outputText, sourceMapText: out.sourceMapText };
      // Syntax errors are reported, never cached.
      if (out.diagnostics && out.diagnostics.length > 0) return { ...result, diagnostics: out.diagnostics };
      const partial = `${file}.${process.pid}.tmp`;
      writeFileSync(partial, JSON.stringify(result));
      renameSync(partial, file);
      return result;
    },
  };
};
