/**
 * Reads a CloudFormation template (YAML with the short intrinsic tags) and resolves the
 * intrinsic functions it uses (Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Equals, Fn::Join, Fn::Not)
 * against given parameter values and made-up physical ids, so tests can look at the documents
 * as AWS would receive them. Any other function throws.
 */
import { parse, type Tags } from "yaml";

const SHORT: Record<string, string> = {
  Sub: "Fn::Sub",
  If: "Fn::If",
  Equals: "Fn::Equals",
  GetAtt: "Fn::GetAtt",
  Join: "Fn::Join",
  Not: "Fn::Not",
  Select: "Fn::Select",
};

const TAGS: Tags = [{ tag: "!Ref", resolve: (s: string) => ({ Ref: s }) }];
for (const [short, long] of Object.entries(SHORT)) {
  TAGS.push({
    tag: `!${short}`,
    resolve: (s: string) => ({ [long]: short === "GetAtt" ? s.split(".") : s }),
  });
  TAGS.push({
    tag: `!${short}`,
    collection: "seq",
    resolve: (seq: { toJSON(): unknown }) => ({ [long]: seq.toJSON() }),
  } as never);
}

export type Template = {
  Parameters?: Record<string, { Default?: string; AllowedValues?: string[] }>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, { Type: string; Condition?: string; Properties?: Record<string, unknown> }>;
  Outputs?: Record<string, { Value: unknown }>;
};

export function parseTemplate(text: string): Template {
  return parse(text, { customTags: TAGS }) as Template;
}

/** What the resolver knows: parameter values, pseudo parameters, and each resource's Ref and attributes. */
export interface Environment {
  parameters: Record<string, string>;
  pseudo: Record<string, string>;
  refs: Record<string, string>;
  attributes: Record<string, string>;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Every intrinsic function in `value` resolved; `AWS::NoValue` removes the key or item. */
export function resolve(template: Template, env: Environment, value: unknown): unknown {
  const NO_VALUE = Symbol("NoValue");
  const name = (n: string): string => {
    const v = env.parameters[n] ?? env.pseudo[n] ?? env.refs[n] ?? env.attributes[n];
    if (v === undefined) throw new Error(`unknown name ${n}`);
    return v;
  };
  const condition = (n: string): boolean => {
    const c = template.Conditions?.[n];
    if (c === undefined) throw new Error(`unknown condition ${n}`);
    return walk(c) === true;
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk).filter((x) => x !== NO_VALUE);
    if (!isRecord(v)) return v;
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const [fn] = keys as [string];
      const arg = v[fn];
      switch (fn) {
        case "Ref":
          return arg === "AWS::NoValue" ? NO_VALUE : name(arg as string);
        case "Fn::GetAtt":
          return name((arg as string[]).join("."));
        case "Fn::Equals": {
          const [a, b] = (arg as unknown[]).map(walk);
          return a === b;
        }
        case "Fn::Not":
          return !(walk((arg as unknown[])[0]) as boolean);
        case "Fn::If": {
          const [c, yes, no] = arg as [string, unknown, unknown];
          return walk(condition(c) ? yes : no);
        }
        case "Fn::Join": {
          const [sep, items] = arg as [string, unknown[]];
          return (walk(items) as string[]).join(sep);
        }
        case "Fn::Sub": {
          const [text, vars] =
            typeof arg === "string" ? [arg, {}] : (arg as [string, Record<string, unknown>]);
          const local = Object.fromEntries(Object.entries(vars).map(([k, x]) => [k, walk(x)]));
          return text.replace(/\$\{(!?)([^}]*)\}/g, (_m, bang: string, n: string) =>
            bang === "!" ? `\${${n}}` : String(local[n] ?? name(n)),
          );
        }
        case "Condition":
          return condition(arg as string);
        default:
          if (fn.startsWith("Fn::")) throw new Error(`${fn} is not supported`);
      }
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const r = walk(x);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  };
  return walk(value);
}
