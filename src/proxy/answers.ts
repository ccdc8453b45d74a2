import type { Duplex } from "node:stream";
import type { AnswerName, Refusal } from "../errors.js";

/** An answer cupbearer writes itself: terse, no internal detail, never the token. */
export interface ErrorAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * How a refusal's body is spelled: cupbearer's JSON, or an AWS service's own error document
 * (core/aws-dialect), so an SDK surfaces the code. The status is the refusal's either way.
 */
export interface AnswerDialect {
  readonly contentType: string;
  body(refusal: Refusal, requestId: string): string;
  /** Headers the dialect adds (a service's own request-id header). */
  headers?(refusal: Refusal, requestId: string): Record<string, string>;
}

/** Turns a refusal into the answer a route gives; chosen once per route when routes are compiled. */
export type AnswerWriter = (refusal: Refusal, requestId: string) => ErrorAnswer;

/** RFC 6750 §3: the challenge that tells a client what kind of token failed how. */
const CHALLENGES: Partial<Record<AnswerName, string>> = {
  unauthorized: 'Bearer realm="cupbearer"',
  invalid_token: 'Bearer realm="cupbearer", error="invalid_token"',
  insufficient_scope: 'Bearer realm="cupbearer", error="insufficient_scope"',
};

const CUPBEARER_JSON: AnswerDialect = {
  contentType: "application/json",
  body: (refusal, requestId) =>
    JSON.stringify({ error: refusal.answer.error, message: refusal.answer.message, requestId }),
};

/** The writer of one dialect: the statuses, challenges and Retry-After are the same in all. */
export function answerWriter(dialect: AnswerDialect): AnswerWriter {
  return (refusal, requestId) => {
    const headers: Record<string, string> = {
      "content-type": dialect.contentType,
      "cache-control": "no-store",
      "x-request-id": requestId,
    };
    const challenge = CHALLENGES[refusal.answerName];
    const { scope } = refusal.facts;
    // Scopes are checked as RFC 6749 §3.3 scope-tokens when the config is read: safe in quotes.
    if (challenge !== undefined)
      headers["www-authenticate"] = scope === undefined ? challenge : `${challenge}, scope="${scope}"`;
    if (refusal.retryAfterSeconds !== undefined) headers["retry-after"] = String(refusal.retryAfterSeconds);
    if (dialect.headers !== undefined) Object.assign(headers, dialect.headers(refusal, requestId));
    if (refusal.headers !== undefined) Object.assign(headers, refusal.headers);
    const body = dialect.body(refusal, requestId);
    headers["content-length"] = String(Buffer.byteLength(body));
    return { status: refusal.answer.status, headers, body };
  };
}

/** The one place a refusal becomes an HTTP answer in cupbearer's own JSON. */
export const errorAnswer: AnswerWriter = answerWriter(CUPBEARER_JSON);

/**
 * Writes an answer straight onto a socket that has no ServerResponse (a refused upgrade, a
 * request Node's parser rejected), then closes it: the connection cannot carry another request.
 */
export function writeRawAnswer(socket: Duplex, refusal: Refusal, requestId: string): void {
  const { status, headers, body } = errorAnswer(refusal, requestId);
  let head = `HTTP/1.1 ${status} ${refusal.answer.error}\r\nconnection: close\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  socket.end(`${head}\r\n${body}`);
}
