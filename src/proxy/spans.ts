/**
 * The spans of a proxied request, named and described after the OpenTelemetry HTTP conventions
 * (https://opentelemetry.io/docs/specs/semconv/http/http-spans/): method, path without its
 * query, the upstream's address, the status. Never a token, header value or query string.
 */
import type { IncomingMessage } from "node:http";
import type { TraceContext } from "../core/trace.js";
import type { Span, Tracer } from "../tracing.js";

function withoutQuery(target: string): string {
  const at = target.indexOf("?");
  return at < 0 ? target : target.slice(0, at);
}

/** The server span of one request: a child of the incoming traceparent, or a root of the new trace. */
export function requestSpan(tracer: Tracer, req: IncomingMessage, method: string, trace: TraceContext): Span {
  return tracer.startSpan(
    method,
    "server",
    {
      "http.request.method": method,
      "url.path": withoutQuery(req.url ?? ""),
      "network.protocol.version": req.httpVersion,
    },
    trace,
  );
}

/**
 * The client span of the upstream call. cupbearer is then a traced participant: the traceparent
 * the upstream receives names this span as its parent, so it replaces the one prepared.
 */
export function upstreamSpan(
  tracer: Tracer,
  parent: Span,
  method: string,
  origin: string,
  request: { readonly path: string; readonly headers: string[] },
): Span {
  const url = new URL(origin);
  const span = tracer.startSpan(
    method,
    "client",
    {
      "http.request.method": method,
      "server.address": url.hostname,
      "server.port": Number(url.port) || (url.protocol === "https:" ? 443 : 80),
      "url.path": withoutQuery(request.path),
    },
    parent,
  );
  const traceparent = span.traceparent;
  if (traceparent !== undefined) {
    const { headers } = request;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === "traceparent") headers[i + 1] = traceparent;
    }
  }
  return span;
}
