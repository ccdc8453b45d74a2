/**
 * What tracing costs a request when no OTLP endpoint is set: the calls the handler makes per
 * request on the no-op path (request span, upstream span, end), timed over many iterations
 * against the same loop without them. `node dist/bench/tracing-noop.js`; prints ns per request.
 */
import type { TraceContext } from "../src/core/trace.js";
import { NO_SPAN, type Span, type Tracer, traced } from "../src/tracing.js";

const ITERATIONS = 5_000_000;
const trace: TraceContext = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", traceparent: "", started: true };
const deps: { tracer?: Tracer | undefined } = {};
const settled = Promise.resolve(200);

/** The handler's per-request tracing steps, as they run with no tracer. */
function withTracing(): Promise<number> {
  const span: Span = deps.tracer === undefined ? NO_SPAN : deps.tracer.startSpan("GET", "server", {}, trace);
  const call = deps.tracer === undefined ? NO_SPAN : deps.tracer.startSpan("GET", "client", {}, span);
  const out = traced(call, settled, () => "x");
  if (span !== NO_SPAN) span.end(200);
  return out;
}

function without(): Promise<number> {
  return settled;
}

function time(run: () => Promise<number>): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) if (run() === undefined) sink++;
  const ns = Number(process.hrtime.bigint() - start) / ITERATIONS;
  if (sink > 0) throw new Error("unreachable");
  return ns;
}

// Warm both up, then take the best of five rounds each.
time(withTracing);
time(without);
const rounds = (run: () => Promise<number>) => Math.min(...Array.from({ length: 5 }, () => time(run)));
const withSpans = rounds(withTracing);
const bare = rounds(without);
console.log(
  `no-op tracing: ${withSpans.toFixed(2)} ns per request, bare loop ${bare.toFixed(2)} ns: +${(withSpans - bare).toFixed(2)} ns`,
);
