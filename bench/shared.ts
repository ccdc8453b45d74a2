// Constants shared by the bench issuer and the orchestrator (kept apart so importing them starts nothing).

/** `client_id` claim of every bench token; cupbearer's issuer config allows only this one. */
export const BENCH_CLIENT_ID = "bench-client";
/** `scope` claim of every bench token; the `/api` route requires it. */
export const BENCH_SCOPE = "bench/read";
/** `sub` claim of every bench token. */
export const BENCH_SUB = "bench-user";
/** Upstream path answering the upstream's served-request counter (never proxied by the bench). */
export const UPSTREAM_COUNT_PATH = "/__bench/count";
