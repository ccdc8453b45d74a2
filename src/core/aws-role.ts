import { type Claims, groupsOf } from "./policy.js";

/**
 * The IAM role to ask Cognito (enhanced flow, `CustomRoleArn`) or STS (basic flow) for.
 *
 * The first of the caller's `cognito:groups`, in token order, that has a role in `byGroup`;
 * else the token's `cognito:preferred_role` (Cognito's own pick: the group role of lowest
 * precedence); else `fallback`. Undefined leaves the choice to the identity pool.
 * Only own keys of `byGroup` count, so a group named `constructor` finds no role.
 */
export function chooseRole(
  claims: Claims,
  byGroup: Readonly<Record<string, string>>,
  fallback?: string,
): string | undefined {
  for (const group of groupsOf(claims)) {
    if (Object.hasOwn(byGroup, group)) {
      const role = byGroup[group];
      if (typeof role === "string") return role;
    }
  }
  const preferred = claims["cognito:preferred_role"];
  if (typeof preferred === "string" && preferred !== "") return preferred;
  return fallback;
}
