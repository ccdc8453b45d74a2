/**
 * The OpenTelemetry SDK behind the tracer interface of tracing.ts: spans batched and exported
 * over OTLP/HTTP (JSON) to the endpoint of the standard OTEL_EXPORTER_OTLP_* variables. Imported
 * only by `loadTracer`, when those are set.
 */
import {
  type Context,
  type Span as OtelSpan,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  type IdGenerator,
  RandomIdGenerator,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import type { TraceContext } from "./core/trace.js";
import type { Span, SpanAttributes, Tracer } from "./tracing.js";

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;

/**
 * Random ids, except that the next trace id can be named: a trace cupbearer started (and put in
 * its access log) becomes the root span's trace id. startSpan is synchronous, so the id named
 * just before it is the one it takes.
 */
class Ids implements IdGenerator {
  next: string | undefined;
  readonly #random = new RandomIdGenerator();

  generateTraceId(): string {
    const id = this.next ?? this.#random.generateTraceId();
    this.next = undefined;
    return id;
  }

  generateSpanId(): string {
    return this.#random.generateSpanId();
  }
}

class RecordedSpan implements Span {
  readonly context: Context;
  readonly traceparent: string | undefined;

  constructor(
    private readonly span: OtelSpan,
    parent: Context,
  ) {
    this.context = trace.setSpan(parent, span);
    const ctx = span.spanContext();
    // A span the sampler dropped is never reported: it must not be named as anyone's parent.
    this.traceparent = span.isRecording()
      ? `00-${ctx.traceId}-${ctx.spanId}-${ctx.traceFlags.toString(16).padStart(2, "0")}`
      : undefined;
  }

  setAttribute(name: string, value: string | number | boolean): void {
    this.span.setAttribute(name, value);
  }

  end(statusCode?: number, error?: string): void {
    if (statusCode !== undefined) this.span.setAttribute("http.response.status_code", statusCode);
    if (error !== undefined) {
      this.span.setAttribute("error.type", error);
      this.span.setStatus({ code: SpanStatusCode.ERROR });
    } else if (statusCode !== undefined && statusCode >= 500) {
      this.span.setAttribute("error.type", String(statusCode));
      this.span.setStatus({ code: SpanStatusCode.ERROR });
    }
    this.span.end();
  }
}

/** The context a span starts in: its parent span's, the incoming traceparent's, or a new trace's. */
function parentContext(parent: Span | TraceContext | undefined, ids: Ids): Context {
  if (parent === undefined) return ROOT_CONTEXT;
  if (parent instanceof RecordedSpan) return parent.context;
  if (!("started" in parent)) return ROOT_CONTEXT;
  if (parent.started) {
    ids.next = parent.traceId;
    return ROOT_CONTEXT;
  }
  // core/trace.ts checked it: version, trace id, parent id and flags at fixed places.
  const tp = parent.traceparent;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: tp.slice(3, 35),
    spanId: tp.slice(36, 52),
    traceFlags: Number.parseInt(tp.slice(53, 55), 16) & 1,
    isRemote: true,
  });
}

/** A tracer exporting to the endpoint `env` names (the exporter reads the variables itself). */
export function createOtelTracer(env: NodeJS.ProcessEnv): Tracer {
  const ids = new Ids();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME?.trim() || "cupbearer" }),
    idGenerator: ids,
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
  });
  const tracer = provider.getTracer("cupbearer");
  return {
    startSpan(name: string, kind, attributes: SpanAttributes, parent?: Span | TraceContext): Span {
      const context = parentContext(parent, ids);
      const span = tracer.startSpan(name, { kind: KINDS[kind], attributes }, context);
      ids.next = undefined;
      return new RecordedSpan(span, context);
    },
    shutdown: () => provider.shutdown(),
  };
}
