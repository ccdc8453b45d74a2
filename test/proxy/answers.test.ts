import { PassThrough } from "node:stream";
import t from "tap";
import { Refusal } from "../../src/errors.js";
import { errorAnswer, writeRawAnswer } from "../../src/proxy/answers.js";

t.test("errorAnswer: terse JSON, the challenge RFC 6750 asks for, nothing of the detail", async (t) => {
  const cases: Array<[Refusal, number, string | undefined]> = [
    [new Refusal("missing"), 401, 'Bearer realm="cupbearer"'],
    [new Refusal("expired", "jwt expired at 12:00"), 401, 'Bearer realm="cupbearer", error="invalid_token"'],
    [new Refusal("scope"), 403, 'Bearer realm="cupbearer", error="insufficient_scope"'],
    [new Refusal("outside_prefix"), 403, undefined],
    [new Refusal("bad_path", "encoded slash"), 400, undefined],
    [new Refusal("upstream_error", "ECONNREFUSED 10.0.0.1:80"), 502, undefined],
  ];
  for (const [refusal, status, challenge] of cases) {
    const answer = errorAnswer(refusal, "req-12345678");
    t.equal(answer.status, status, refusal.reason);
    t.equal(answer.headers["www-authenticate"], challenge, `${refusal.reason} challenge`);
    t.strictSame(JSON.parse(answer.body), {
      error: refusal.answer.error,
      message: refusal.answer.message,
      requestId: "req-12345678",
    });
    t.notMatch(answer.body, refusal.message === refusal.reason ? /$^/ : refusal.message, "no detail");
    t.equal(answer.headers["content-length"], String(Buffer.byteLength(answer.body)));
    t.equal(answer.headers["cache-control"], "no-store");
  }
  t.equal(errorAnswer(new Refusal("busy", "full", 1), "r-12345678").headers["retry-after"], "1");
  t.equal(errorAnswer(new Refusal("busy"), "r-12345678").headers["retry-after"], undefined);
});

t.test("writeRawAnswer: a whole HTTP/1.1 answer on the socket, then the socket ends", async (t) => {
  const socket = new PassThrough();
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  const ended = new Promise((resolve) => socket.on("end", resolve));
  writeRawAnswer(socket, new Refusal("headers_too_large", "HPE_HEADER_OVERFLOW"), "req-12345678");
  await ended;
  const text = Buffer.concat(chunks).toString("utf8");
  const [head, body] = text.split("\r\n\r\n");
  t.match(head, /^HTTP\/1\.1 431 request_header_fields_too_large\r\n/);
  t.match(head, /\r\nconnection: close\r\n/);
  t.match(head, /\r\nx-request-id: req-12345678\r\n/);
  t.equal(JSON.parse(body as string).error, "request_header_fields_too_large");
  t.notMatch(text, "HPE_");
});
