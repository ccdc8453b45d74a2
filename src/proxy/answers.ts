import type { Duplex } from "node:stream";
import type { AnswerName, Refusal } from "../errors.js";

/** An answer cupbearer writes itself: terse JSON, no internal detail, never the token. */
export interface ErrorAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** RFC 6750 §3: the challenge that tells a client what kind of token failed how. */
const CHALLENGES: Partial<Record<AnswerName, string>> = {
  unauthorized: 'Bearer realm="cupbearer"',
  invalid_token: 'Bearer realm="cupbearer", error="invalid_token"',
  insufficient_scope: 'Bearer realm="cupbearer", error="insufficient_scope"',
};

/** The one place a refusal becomes an HTTP answer. */
export function errorAnswer(refusal: Refusal, requestId: string): ErrorAnswer {
  const { answer } = refusal;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-request-id": requestId,
  };
  const challenge = CHALLENGES[refusal.answerName];
  const { scope } = refusal.facts;
  // Scopes are checked as RFC 6749 §3.3 scope-tokens when the config is read: safe in quotes.
  if (challenge !== undefined)
    headers["www-authenticate"] = scope === undefined ? challenge : `${challenge}, scope="${scope}"`;
  if (refusal.retryAfterSeconds !== undefined) headers["retry-after"] = String(refusal.retryAfterSeconds);
  const body = JSON.stringify({ error: answer.error, message: answer.message, requestId });
  headers["content-length"] = String(Buffer.byteLength(body));
  return { status: answer.status, headers, body };
}

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
