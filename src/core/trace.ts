/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` a request carries,
 * kept when it is valid, or a new one started when it is absent or invalid, so the upstream and
 * the access log share one trace id. Pure; randomness is passed in.
 *
 * Unless spans are exported (src/tracing.ts), cupbearer records none of its own, so a valid
 * traceparent is forwarded unchanged (a proxy that is not a traced participant must not invent a
 * parent it never reports). When they are, the upstream call's span replaces the parent id
 * (src/proxy/spans.ts).
 */

/** The request's trace: its id (in every access-log line) and the traceparent to send upstream. */
export interface TraceContext {
  readonly traceId: string;
  readonly traceparent: string;
  /** True when cupbearer started the trace (none, or an invalid one, came in). */
  readonly started: boolean;
}

const HEX = /^[0-9a-f]+$/;
const ZEROS = /^0+$/;

/**
 * The trace of a request whose `traceparent` header is `header` (Node joins repeated headers
 * with ", ", which is then invalid, as the spec wants for more than one). `random(n)` gives `n`
 * random bytes as lower-case hex digits.
 */
export function traceContext(
  header: string | string[] | undefined,
  random: (bytes: number) => string,
): TraceContext {
  const value = typeof header === "string" ? header : undefined;
  if (value !== undefined && isValid(value)) {
    return { traceId: value.slice(3, 35), traceparent: value, started: false };
  }
  const traceId = nonZero(random, 16);
  const parentId = nonZero(random, 8);
  // Flags 00: cupbearer does not sample; whoever records the trace decides.
  return { traceId, traceparent: `00-${traceId}-${parentId}-00`, started: true };
}

/**
 * version "-" trace-id "-" parent-id "-" flags, lower-case hex. Version ff is invalid; version
 * 00 is exactly 55 characters; a later version may append "-" and more, forwarded as it came.
 */
function isValid(v: string): boolean {
  if (v.length < 55 || (v.length > 55 && (v.startsWith("00") || v[55] !== "-"))) return false;
  const [version, traceId, parentId, flags] = [
    v.slice(0, 2),
    v.slice(3, 35),
    v.slice(36, 52),
    v.slice(53, 55),
  ];
  if (v[2] !== "-" || v[35] !== "-" || v[52] !== "-") return false;
  if (![version, traceId, parentId, flags].every((part) => HEX.test(part))) return false;
  return version !== "ff" && !ZEROS.test(traceId) && !ZEROS.test(parentId);
}

/** `bytes` random bytes in hex from `random`, drawn again until valid (an all-zero id is invalid). */
function nonZero(random: (bytes: number) => string, bytes: number): string {
  for (;;) {
    const hex = random(bytes);
    if (hex.length === bytes * 2 && HEX.test(hex) && !ZEROS.test(hex)) return hex;
  }
}
