// Constants shared by the bench issuer and the orchestrator (kept apart so importing them starts nothing).

/** `client_id` claim of every bench token; cupbearer's issuer config allows only this one. */
export const BENCH_CLIENT_ID = "bench-client";
/** `scope` claim of every bench token; the `/api` route requires it. */
export const BENCH_SCOPE = "bench/read";
/** `sub` claim of every bench token. */
export const BENCH_SUB = "bench-user";
/** Upstream path answering the upstream's served-request counter (never proxied by the bench). */
export const UPSTREAM_COUNT_PATH = "/__bench/count";
/** Upstream path answering what the last proxied request looked like (signed or not), never proxied either. */
export const UPSTREAM_LAST_PATH = "/__bench/last";

/** The answer at UPSTREAM_LAST_PATH: enough to tell a SigV4-signed request, and no secret. */
export interface UpstreamLastRequest {
  method: string;
  url: string;
  /** First word of the Authorization header ("Bearer", "AWS4-HMAC-SHA256"), or null without one. */
  authScheme: string | null;
  /** The SigV4 `Credential=` value (access key id / scope), or null. */
  credential: string | null;
  signedHeaders: string | null;
  hasSecurityToken: boolean;
  contentSha256: string | null;
}
