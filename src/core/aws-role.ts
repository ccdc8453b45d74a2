import { type Claims, groupsOf } from "./policy.js";

/**
 * The IAM role to ask Cognito (enhanced flow, `CustomRoleArn`) or STS (basic flow) for.
 *
 * Both flows: the first of the caller's `cognito:groups`, in token order, that has a role in
 * `roles.byGroup`. Failing that:
 * - enhanced flow: the token's `cognito:preferred_role` (Cognito's own pick: the group role of
 *   lowest precedence), else undefined, which leaves the choice to the identity pool;
 * - basic flow: `roles.basicFlowDefault`. The token's `cognito:preferred_role` is never used here:
 *   STS would assume whatever role it names, and a non-Cognito OIDC issuer can put any role there.
 *
 * Only own keys of `byGroup` count, so a group named `constructor` finds no role.
 */
export function chooseRole(
  claims: Claims,
  roles: { byGroup: Readonly<Record<string, string>>; basicFlowDefault?: string | undefined },
  flow: "enhanced" | "basic",
): string | undefined {
  const { byGroup } = roles;
  for (const group of groupsOf(claims)) {
    if (Object.hasOwn(byGroup, group)) {
      const role = byGroup[group];
      if (typeof role === "string") return role;
    }
  }
  if (flow === "basic") return roles.basicFlowDefault;
  const preferred = claims["cognito:preferred_role"];
  if (typeof preferred === "string" && preferred !== "") return preferred;
  return undefined;
}
