/**
 * The routes and the table of requests both forward-auth tests judge twice, once through the
 * proxy and once through the forward-auth endpoint (directly, and behind a real nginx).
 */
import type { TestIssuer } from "./issuer.js";

/**
 * The routes, in YAML, with every kind of rule the decision knows; `issuers` names the issuers
 * whose tokens the rules judge (needed when the config has more than one).
 */
export function routesYaml(upstream: string, issuers?: readonly string[]): string {
  const judged = issuers === undefined ? "" : `issuers: [${issuers.join(", ")}], `;
  return `  - id: orders
    match: { pathPrefix: /orders }
    upstream: ${upstream}
    auth: { ${judged}groups: [admin], claimHeaders: { X-Tenant: "custom:tenant" } }
  - id: me
    match: { pathPrefix: /me }
    upstream: ${upstream}
    auth: { tokenUse: access }
  - id: public
    match: { pathPrefix: /public }
    upstream: ${upstream}
    auth: { mode: public }
  - id: optional
    match: { pathPrefix: /opt }
    upstream: ${upstream}
    auth: { mode: optional }
  - id: query
    match: { pathPrefix: /q }
    upstream: ${upstream}
    auth: { token: { query: access_token }, forwardToken: false }
  - id: admin-host
    match: { pathPrefix: /admin, hosts: [admin.example.com] }
    upstream: ${upstream}
  - id: writes
    match: { pathPrefix: /w, methods: [PUT] }
    upstream: ${upstream}`;
}

export interface DecisionCase {
  name: string;
  method: string;
  host: string;
  target: string;
  token?: () => string;
  status: number;
  error?: string;
}

export function decisionCases(issuer: TestIssuer): DecisionCase[] {
  const now = Math.floor(Date.now() / 1000);
  const admin = () =>
    issuer.token({ "cognito:groups": ["admin"], email: "ann@example.com", "custom:tenant": "acme" });
  const staff = () => issuer.token({ "cognito:groups": ["staff"] });
  const expired = () => issuer.token({ iat: now - 7200, exp: now - 3600 });
  const id = () => issuer.token({ token_use: "id", aud: "test-client" });
  const host = "api.example.com";
  const get = (target: string) => ({ method: "GET", host, target });
  return [
    { name: "admin on orders", ...get("/orders/1"), token: admin, status: 200 },
    { name: "staff on orders", ...get("/orders/1"), token: staff, status: 403, error: "insufficient_scope" },
    { name: "no token on orders", ...get("/orders/1"), status: 401, error: "unauthorized" },
    { name: "expired token", ...get("/orders/1"), token: expired, status: 401, error: "invalid_token" },
    {
      name: "garbage token",
      ...get("/orders/1"),
      token: () => "not.a.jwt",
      status: 401,
      error: "invalid_token",
    },
    {
      name: "ID token where access is required",
      ...get("/me"),
      token: id,
      status: 403,
      error: "insufficient_scope",
    },
    { name: "access token on me", ...get("/me"), token: staff, status: 200 },
    { name: "dot segments normalized as the proxy does", ...get("/public/../me"), token: staff, status: 200 },
    { name: "public without a token", ...get("/public/x"), status: 200 },
    { name: "optional without a token", ...get("/opt/x"), status: 200 },
    {
      name: "optional with a bad token",
      ...get("/opt/x"),
      token: expired,
      status: 401,
      error: "invalid_token",
    },
    { name: "token in the query", ...get(`/q/x?a=1&access_token=${issuer.token()}`), status: 200 },
    { name: "no token in the query", ...get("/q/x?a=1"), status: 401, error: "unauthorized" },
    {
      name: "the route's host",
      method: "GET",
      host: "admin.example.com",
      target: "/admin/x",
      token: staff,
      status: 200,
    },
    { name: "another host", ...get("/admin/x"), token: staff, status: 404, error: "not_found" },
    { name: "the route's method", method: "PUT", host, target: "/w/1", token: staff, status: 200 },
    { name: "another method", ...get("/w/1"), token: staff, status: 404, error: "not_found" },
    { name: "an encoded slash", ...get("/public/a%2Fb"), status: 400, error: "bad_request" },
  ];
}
