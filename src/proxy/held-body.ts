import type { IncomingMessage } from "node:http";
import { Refusal } from "../errors.js";

const BUSY_RETRY_AFTER_SECONDS = 1;

/**
 * Bytes of request bodies held in memory at once, across all requests: each route bounds one
 * body, this bounds them all, so many concurrent uploads cannot exhaust memory.
 */
export class HeldBodyBudget {
  #held = 0;

  constructor(readonly maxBytes: number) {}

  /** Takes `bytes` from the budget; false (and nothing taken) when it would run over. */
  take(bytes: number): boolean {
    if (this.#held + bytes > this.maxBytes) return false;
    this.#held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#held -= bytes;
  }
}

/** A request body read whole; its bytes stay taken from the budget until `release`. */
export interface HeldBody {
  readonly bytes: Buffer;
  /** Gives the bytes back to the budget; later calls do nothing. */
  release(): void;
}

/**
 * Reads a body of at most `max` bytes, taking them from the budget; past either, refused before
 * more is read (413, or 503 with Retry-After when the budget is spent).
 */
export function readHeldBody(req: IncomingMessage, max: number, budget: HeldBodyBudget): Promise<HeldBody> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > max) return Promise.reject(new Refusal("body_too_large"));
  // Events, not for-await: leaving a for-await loop destroys the request, and with it the socket
  // the refusal must still be written to.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err?: Refusal) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      if (err === undefined) {
        let held = size;
        const release = () => {
          budget.give(held);
          held = 0;
        };
        return resolve({ bytes: Buffer.concat(chunks, size), release });
      }
      budget.give(size);
      chunks.length = 0;
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > max) return finish(new Refusal("body_too_large"));
      if (!budget.take(chunk.length)) {
        return finish(new Refusal("busy", "held bodies at their limit", BUSY_RETRY_AFTER_SECONDS));
      }
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => finish();
    // The client went away or broke the framing mid-body.
    const onError = () => finish(new Refusal("body_incomplete", "request body not received"));
    const onClose = () => {
      if (!req.complete) onError();
    };
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}
