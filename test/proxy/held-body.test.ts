/** Held request bodies, read from real HTTP requests on 127.0.0.1. */
import type { IncomingMessage } from "node:http";
import { connect } from "node:net";
import t, { type Test } from "tap";
import { type HeldBody, HeldBodyBudget, readHeldBody } from "../../src/proxy/held-body.js";
import { serve } from "../support/server.js";

/** Sends `raw` (a whole HTTP request, or a part of one) and resolves with what readHeldBody made of it. */
async function readFrom(
  t: Test,
  raw: string,
  max: number,
  budget: HeldBodyBudget,
  cut = false,
): Promise<HeldBody | { refused: string; retryAfter: number | undefined }> {
  let settle: (v: HeldBody | { refused: string; retryAfter: number | undefined }) => void = () => {};
  const outcome = new Promise<HeldBody | { refused: string; retryAfter: number | undefined }>((r) => {
    settle = r;
  });
  const url = new URL(
    await serve(t, (req: IncomingMessage, res) => {
      readHeldBody(req, max, budget).then(
        (held) => {
          settle(held);
          res.end();
        },
        (err: { reason: string; retryAfterSeconds?: number }) => {
          settle({ refused: err.reason, retryAfter: err.retryAfterSeconds });
          res.end();
        },
      );
    }),
  );
  const socket = connect(Number(url.port), "127.0.0.1");
  socket.on("error", () => {});
  socket.write(raw);
  if (cut) setTimeout(() => socket.destroy(), 50);
  const result = await outcome;
  socket.destroy();
  return result;
}

const post = (body: string, headers = `content-length: ${Buffer.byteLength(body)}`) =>
  `POST / HTTP/1.1\r\nhost: x\r\n${headers}\r\n\r\n${body}`;
const chunked = (...chunks: string[]) =>
  post(
    `${chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join("")}0\r\n\r\n`,
    "transfer-encoding: chunked",
  );

t.test("a body within both bounds is read whole and held until released", async (t) => {
  const budget = new HeldBodyBudget(100);
  const held = await readFrom(t, chunked("hello ", "world"), 50, budget);
  if (!("bytes" in held)) throw new Error(`refused: ${held.refused}`);
  t.equal(held.bytes.toString(), "hello world");
  t.notOk(budget.take(90), "its 11 bytes are still taken");
  held.release();
  held.release();
  t.ok(budget.take(100), "released once, exactly: the whole budget is free");
});

t.test("refusals give back every byte they took", async (t) => {
  const cases: Array<[name: string, raw: string, max: number, reason: string, retry: number | undefined]> = [
    ["declared too large", post("x".repeat(60)), 50, "body_too_large", undefined],
    ["streamed too large", chunked("x".repeat(30), "y".repeat(30)), 50, "body_too_large", undefined],
    ["budget spent", chunked("x".repeat(30), "y".repeat(30)), 1000, "busy", 1],
  ];
  for (const [name, raw, max, reason, retry] of cases) {
    const budget = new HeldBodyBudget(40);
    const outcome = await readFrom(t, raw, max, budget);
    t.strictSame(outcome, { refused: reason, retryAfter: retry }, name);
    t.ok(budget.take(40), `${name}: nothing left taken`);
  }
});

t.test("a client that stops mid-body is refused as incomplete", async (t) => {
  const budget = new HeldBodyBudget(100);
  const outcome = await readFrom(t, post("part", "content-length: 20"), 50, budget, true);
  t.strictSame(outcome, { refused: "body_incomplete", retryAfter: undefined });
  t.ok(budget.take(100), "nothing left taken");
});
