/**
 * Spans, when an OTLP endpoint is configured: the request, the upstream call, JWKS fetches and
 * identity-pool calls. Without `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces variant) nothing of
 * OpenTelemetry is loaded and every span is the one shared no-op object below.
 */
import type { TraceContext } from "./core/trace.js";

/** Attribute values after the OpenTelemetry conventions: never a token, header value or query. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

export type SpanKind = "server" | "client" | "internal";

export interface Span {
  /** The traceparent naming this span as the parent; undefined when the span is not recorded. */
  readonly traceparent: string | undefined;
  setAttribute(name: string, value: string | number | boolean): void;
  /** Ends the span: with the HTTP status when there was one, and an error code when it failed. */
  end(statusCode?: number, error?: string): void;
}

export interface Tracer {
  /**
   * A span, child of `parent`: another span, or the request's trace (kept: a child of the
   * incoming traceparent; started by cupbearer: a root span with that trace id).
   */
  startSpan(name: string, kind: SpanKind, attributes: SpanAttributes, parent?: Span | TraceContext): Span;
  /** Exports what is pending and stops. */
  shutdown(): Promise<void>;
}

/** The span of a tracer that records nothing: one object, shared, so it costs no allocation. */
export const NO_SPAN: Span = Object.freeze({
  traceparent: undefined,
  setAttribute(): void {},
  end(): void {},
});

/** Settles with `call` when it is traced: the no-op span adds nothing to the promise. */
export function traced<T extends number>(
  span: Span,
  call: Promise<T>,
  failure: (err: unknown) => string,
): Promise<T> {
  if (span === NO_SPAN) return call;
  return call.then(
    (status) => {
      span.end(status || undefined);
      return status;
    },
    (err: unknown) => {
      span.end(undefined, failure(err));
      throw err;
    },
  );
}

/** True when the environment asks for exported traces (the OTel SDK's own variables). */
export function tracesWanted(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === "none") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * The tracer the environment asks for, or undefined: the OpenTelemetry SDK is imported only
 * when traces are wanted, so the default path neither loads nor runs any of it.
 */
export async function loadTracer(env: NodeJS.ProcessEnv = process.env): Promise<Tracer | undefined> {
  if (!tracesWanted(env)) return undefined;
  const { createOtelTracer } = await import("./tracing-otel.js");
  return createOtelTracer(env);
}
