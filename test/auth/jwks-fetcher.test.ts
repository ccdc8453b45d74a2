import type { RequestListener } from "node:http";
import t, { type Test } from "tap";
import { Agent } from "undici";
import { RefetchLimiter, UndiciJwksFetcher } from "../../src/auth/jwks-fetcher.js";
import { serve } from "../support/server.js";

/** The JWKS fetcher against real servers on 127.0.0.1 that misbehave on purpose. */
const serveJwks = async (t: Test, handler: RequestListener) => `${await serve(t, handler)}/jwks.json`;

function fetcher(t: Test, opts: { timeoutMs?: number; maxBytes?: number } = {}) {
  const results: boolean[] = [];
  const dispatcher = new Agent();
  t.teardown(() => dispatcher.close());
  return {
    results,
    f: new UndiciJwksFetcher({
      timeoutMs: opts.timeoutMs ?? 2000,
      maxBytes: opts.maxBytes ?? 1024,
      dispatcher,
      onResult: (_uri, ok) => results.push(ok),
    }),
  };
}

t.test("returns the body of a 200", async (t) => {
  const uri = await serveJwks(t, (_req, res) => res.end('{"keys":[]}'));
  const { f, results } = fetcher(t);
  t.equal(Buffer.from(await f.fetch(uri)).toString(), '{"keys":[]}');
  t.same(results, [true]);
});

t.test("a non-200 status is a failed fetch", async (t) => {
  const uri = await serveJwks(t, (_req, res) => res.writeHead(404).end("nope"));
  const { f, results } = fetcher(t);
  await t.rejects(f.fetch(uri), { message: /status 404/ });
  t.same(results, [false]);
});

t.test("a body over the size limit is refused, declared or streamed", async (t) => {
  const declared = await serveJwks(t, (_req, res) => res.end("x".repeat(4096)));
  const streamed = await serveJwks(t, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    for (let i = 0; i < 8; i++) res.write("y".repeat(512));
    res.end();
  });
  const { f, results } = fetcher(t, { maxBytes: 1024 });
  await t.rejects(f.fetch(declared), { message: /too large/ });
  await t.rejects(f.fetch(streamed), { message: /too large/ });
  t.same(results, [false, false]);
});

t.test("a server that never answers is cut at the timeout", async (t) => {
  const uri = await serveJwks(t, () => undefined);
  const { f } = fetcher(t, { timeoutMs: 200 });
  const started = Date.now();
  await t.rejects(f.fetch(uri), { message: /Failed to fetch/ });
  t.ok(Date.now() - started < 3000, "bounded in time");
});

t.test("a refused connection is a failed fetch", async (t) => {
  const { f, results } = fetcher(t);
  await t.rejects(f.fetch("http://127.0.0.1:1/jwks.json"), { message: /Failed to fetch/ });
  t.same(results, [false]);
});

t.test("RefetchLimiter: one fetch per period per URI", async (t) => {
  let now = 1000;
  const limiter = new RefetchLimiter(10_000, () => now);
  await t.resolves(limiter.wait("a"), "free at first");
  limiter.registerFailedAttempt("a");
  await t.rejects(limiter.wait("a"), { message: /rate limited/ }, "waiting after a failure");
  await t.resolves(limiter.wait("b"), "other URIs are not affected");
  now += 9_999;
  await t.rejects(limiter.wait("a"), { message: /rate limited/ });
  now += 1;
  await t.resolves(limiter.wait("a"), "free again once the period is over");
  limiter.registerFailedAttempt("a");
  limiter.registerSuccessfulAttempt("a");
  await t.resolves(limiter.wait("a"), "a success clears the wait");
});
