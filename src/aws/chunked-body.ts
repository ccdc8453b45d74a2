/**
 * Re-frames a chunk-signed S3 upload (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`) as it
 * streams: the client's chunk and trailer signatures (made with its dummy keys) are dropped,
 * the data and the checksum trailer kept, in the unsigned-trailer form with chunks of a fixed
 * size, so the length sent upstream is known before the first byte (core/aws-chunked).
 *
 * Memory stays flat: data passes as slices of the buffers it came in; only one header or trailer
 * line (bounded) is ever held. Anything malformed fails the stream, which ends the upstream
 * request short of its Content-Length, so S3 stores nothing.
 */
import { Transform, type TransformCallback } from "node:stream";
import { CHECKSUM_TRAILERS } from "../core/aws-chunked.js";
import { Refusal } from "../errors.js";

/** Longest chunk header or trailer line: a 16-digit size with its signature is 98 bytes. */
const MAX_LINE_BYTES = 256;
/** Trailer lines besides the checksum: its signature. */
const MAX_TRAILER_LINES = 2;

const CHUNK_HEADER = /^([0-9a-fA-F]{1,16});chunk-signature=[0-9a-fA-F]{64}$/;
const TRAILER_SIGNATURE = /^x-amz-trailer-signature:[0-9a-fA-F]{64}$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const CRLF = Buffer.from("\r\n");

type State = "header" | "data" | "data-end" | "trailer" | "end" | "done";

export interface ChunkedBodyOptions {
  readonly decodedLength: number;
  /** The checksum trailer's name (lower case), for the `-TRAILER` framing. */
  readonly trailer: string | undefined;
  readonly chunkBytes: number;
}

function malformed(detail: string): Refusal {
  return new Refusal("bad_chunks", detail);
}

/** A Transform from the chunk-signed framing to the unsigned-trailer framing. */
export class ChunkSignatureStripper extends Transform {
  #state: State = "header";
  #line: Buffer[] = [];
  #lineBytes = 0;
  /** Data bytes left in the client's current chunk. */
  #inChunk = 0;
  /** CRLF bytes still expected after a chunk's data. */
  #crlf = 0;
  /** Data bytes left in the chunk being written. */
  #outChunk = 0;
  #decoded = 0;
  #trailerLines = 0;
  #trailerValue: string | undefined;

  constructor(private readonly options: ChunkedBodyOptions) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.#consume(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    done(this.#state === "done" ? null : malformed(`body ended in state ${this.#state}`));
  }

  #consume(input: Buffer): void {
    let at = 0;
    while (at < input.length) {
      switch (this.#state) {
        case "data": {
          const take = Math.min(this.#inChunk, input.length - at);
          this.#data(input.subarray(at, at + take));
          at += take;
          this.#inChunk -= take;
          if (this.#inChunk === 0) {
            this.#state = "data-end";
            this.#crlf = 0;
          }
          break;
        }
        case "data-end": {
          if (input[at] !== CRLF[this.#crlf]) throw malformed("chunk data not followed by CRLF");
          at++;
          if (++this.#crlf === 2) this.#state = "header";
          break;
        }
        case "done":
          throw malformed("bytes after the final chunk");
        default: {
          const eol = input.indexOf(0x0a, at);
          const end = eol < 0 ? input.length : eol;
          this.#lineBytes += end - at;
          if (this.#lineBytes > MAX_LINE_BYTES) throw malformed("chunk header or trailer line too long");
          this.#line.push(input.subarray(at, end));
          at = end;
          if (eol >= 0) {
            at++;
            let line = Buffer.concat(this.#line, this.#lineBytes).toString("latin1");
            this.#line = [];
            this.#lineBytes = 0;
            if (line.endsWith("\r")) line = line.slice(0, -1);
            this.#onLine(line);
          }
        }
      }
    }
  }

  #onLine(line: string): void {
    const { options } = this;
    if (this.#state === "header") {
      const m = CHUNK_HEADER.exec(line);
      if (m === null) throw malformed("bad chunk header");
      const size = Number.parseInt(m[1] as string, 16);
      if (size > options.decodedLength - this.#decoded)
        throw malformed("more data than x-amz-decoded-content-length");
      if (size > 0) {
        this.#inChunk = size;
        this.#state = "data";
      } else {
        if (this.#decoded !== options.decodedLength)
          throw malformed("less data than x-amz-decoded-content-length");
        this.#state = options.trailer === undefined ? "end" : "trailer";
      }
      return;
    }
    if (this.#state === "end") {
      if (line !== "") throw malformed("final chunk not followed by an empty line");
      this.#finish();
      return;
    }
    // The trailer: the checksum (kept), its signature (dropped), then an empty line.
    if (line === "") {
      if (this.#trailerValue === undefined) throw malformed("checksum trailer missing");
      this.#finish();
      return;
    }
    if (++this.#trailerLines > MAX_TRAILER_LINES) throw malformed("too many trailer lines");
    if (TRAILER_SIGNATURE.test(line)) return;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (colon < 0 || name !== options.trailer || this.#trailerValue !== undefined) {
      throw malformed("unexpected trailer");
    }
    if (value.length !== CHECKSUM_TRAILERS[name] || !BASE64.test(value))
      throw malformed("bad checksum value");
    this.#trailerValue = value;
  }

  /** Writes data into fixed-size chunks of the unsigned-trailer framing. */
  #data(bytes: Buffer): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.#outChunk === 0) {
        this.#outChunk = Math.min(this.options.chunkBytes, this.options.decodedLength - this.#decoded);
        this.push(`${this.#outChunk.toString(16)}\r\n`);
      }
      const take = Math.min(this.#outChunk, bytes.length - at);
      this.push(bytes.subarray(at, at + take));
      at += take;
      this.#decoded += take;
      this.#outChunk -= take;
      if (this.#outChunk === 0) this.push(CRLF);
    }
  }

  #finish(): void {
    const { trailer } = this.options;
    this.push(trailer === undefined ? "0\r\n\r\n" : `0\r\n${trailer}:${this.#trailerValue}\r\n\r\n`);
    this.#state = "done";
  }
}
