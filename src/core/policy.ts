import { Refusal } from "../errors.js";

/** The claims of a verified token. */
export type Claims = Readonly<Record<string, unknown>>;

/** A route's rules, compiled once. Empty lists mean "no rule". */
export interface AuthRules {
  /** Issuer ids the route accepts; undefined accepts every issuer. */
  readonly issuers: ReadonlySet<string> | undefined;
  readonly tokenUse: "access" | "id" | "any";
  /** All of these scopes are required. */
  readonly scopes: readonly string[];
  /** Any one of these groups is enough. */
  readonly groups: readonly string[];
  /** Each claim must equal its value exactly. */
  readonly claims: ReadonlyArray<readonly [string, string | number | boolean]>;
}

/** The rule a token failed; each is also the refusal reason the caller reports. */
export type RuleFailure = "issuer_not_allowed" | "token_use" | "scope" | "group" | "claim";

export type PolicyDecision =
  | { allow: true }
  | { allow: false; reason: RuleFailure /** The claim that differed, for `claim`. */; claim?: string };

const ALLOW: PolicyDecision = { allow: true };

export function compileRules(config: {
  issuers?: readonly string[] | undefined;
  tokenUse: "access" | "id" | "any";
  scopes: readonly string[];
  groups: readonly string[];
  claims: Readonly<Record<string, string | number | boolean>>;
}): AuthRules {
  return {
    issuers: config.issuers === undefined ? undefined : new Set(config.issuers),
    tokenUse: config.tokenUse,
    scopes: [...config.scopes],
    groups: [...config.groups],
    claims: Object.entries(config.claims),
  };
}

/** The token's scopes: OAuth's space-separated `scope` (RFC 8693 §4.2), or an `scp` list. */
function scopesOf(claims: Claims): readonly string[] {
  const scope = claims.scope;
  if (typeof scope === "string") return scope.split(" ");
  const scp = claims.scp;
  return Array.isArray(scp) ? scp.filter((s): s is string => typeof s === "string") : [];
}

/** The caller's Cognito groups (`cognito:groups`), or none. */
export function groupsOf(claims: Claims): readonly string[] {
  const groups = claims["cognito:groups"];
  return Array.isArray(groups) ? groups.filter((g): g is string => typeof g === "string") : [];
}

/**
 * May a verified token pass this route? Pure: the token is already known to be authentic;
 * this decides only whether its issuer, use, scopes, groups and claims meet the route's rules.
 * Token use is a rule of the route, not of the token, so a wrong one is a 403 like the others.
 */
export function evaluate(rules: AuthRules, issuerId: string, claims: Claims): PolicyDecision {
  if (rules.issuers !== undefined && !rules.issuers.has(issuerId))
    return { allow: false, reason: "issuer_not_allowed" };
  if (rules.tokenUse !== "any" && claims.token_use !== rules.tokenUse)
    return { allow: false, reason: "token_use" };
  if (rules.scopes.length > 0) {
    const held = scopesOf(claims);
    if (!rules.scopes.every((s) => held.includes(s))) return { allow: false, reason: "scope" };
  }
  if (rules.groups.length > 0) {
    const held = groupsOf(claims);
    if (!rules.groups.some((g) => held.includes(g))) return { allow: false, reason: "group" };
  }
  for (const [name, value] of rules.claims) {
    if (claims[name] !== value) return { allow: false, reason: "claim", claim: name };
  }
  return ALLOW;
}

/**
 * A refused decision as the Refusal the edge answers with: a missing scope names the scopes the
 * route needs (RFC 6750 §3), a claim names itself for the log (its value never).
 */
export function ruleRefusal(rules: AuthRules, decision: Exclude<PolicyDecision, { allow: true }>): Refusal {
  const { reason, claim } = decision;
  if (reason === "scope") return new Refusal(reason, undefined, undefined, { scope: rules.scopes.join(" ") });
  if (claim !== undefined) return new Refusal(reason, undefined, undefined, { rule: `claim:${claim}` });
  return new Refusal(reason);
}
