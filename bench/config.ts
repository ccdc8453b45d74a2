// The cupbearer config every bench run uses (kept apart so importing it starts nothing).
import { BENCH_IDENTITY_POOL_ID } from "./aws-identity.js";
import { BENCH_CLIENT_ID, BENCH_SCOPE } from "./shared.js";

/** Routes /public, /api (an access token with the bench scope), /s3plain and /s3 (signed), on the given ports. */
export function cupbearerConfig(p: {
  port: number;
  admin: number;
  issuer: number;
  upstream: number;
  identity: string;
}): string {
  // The S3 routes take an ID token of the bench issuer (identity pools take ID tokens); the
  // stand-in pool checks no token.
  return `listen: { host: 127.0.0.1, port: ${p.port} }
admin: { host: 127.0.0.1, port: ${p.admin} }
issuers:
  - id: bench
    issuer: http://127.0.0.1:${p.issuer}
    jwksUri: http://127.0.0.1:${p.issuer}/.well-known/jwks.json
    clientIds: [${BENCH_CLIENT_ID}]
routes:
  - id: public
    match: { pathPrefix: /public }
    upstream: http://127.0.0.1:${p.upstream}
    auth: { mode: public }
  - id: api
    match: { pathPrefix: /api }
    upstream: http://127.0.0.1:${p.upstream}
    auth: { mode: required, tokenUse: access, scopes: [${BENCH_SCOPE}] }
  - id: s3plain
    match: { pathPrefix: /s3plain }
    stripPrefix: true
    upstream: http://127.0.0.1:${p.upstream}
    auth: { mode: required }
  - id: s3
    match: { pathPrefix: /s3 }
    stripPrefix: true
    upstream:
      url: http://127.0.0.1:${p.upstream}
      aws: { service: s3, region: us-east-1, identityPool: bench }
      s3: { keyPrefix: "private/{sub}/" }
    auth: { mode: required, tokenUse: id }
identityPools:
  - id: bench
    identityPoolId: "${BENCH_IDENTITY_POOL_ID}"
    region: us-east-1
    endpoint: ${p.identity}
`;
}
