import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import t from "tap";
import { ChunkSignatureStripper } from "../../src/aws/chunked-body.js";
import { reframedLength } from "../../src/core/aws-chunked.js";

const SIG = "a".repeat(64);
const SHA256 = "x-amz-checksum-sha256";

/** A chunk-signed body of `data` in chunks of `size`, as SDKs write it. */
function signedBody(data: Buffer, size: number, trailer?: string): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) {
    const piece = data.subarray(at, at + size);
    parts.push(
      Buffer.from(`${piece.length.toString(16)};chunk-signature=${SIG}\r\n`),
      piece,
      Buffer.from("\r\n"),
    );
  }
  parts.push(Buffer.from(`0;chunk-signature=${SIG}\r\n`));
  parts.push(
    Buffer.from(trailer === undefined ? "\r\n" : `${trailer}\r\nx-amz-trailer-signature:${SIG}\r\n\r\n`),
  );
  return Buffer.concat(parts);
}

function strip(
  input: Buffer,
  options: { decodedLength: number; trailer?: string; chunkBytes: number },
  step = 0,
) {
  const pieces: Buffer[] = [];
  if (step === 0) pieces.push(input);
  else for (let at = 0; at < input.length; at += step) pieces.push(input.subarray(at, at + step));
  const stripper = new ChunkSignatureStripper({ trailer: undefined, ...options });
  const out = Readable.from(pieces).pipe(stripper);
  return buffer(out).then((b) => b.toString("latin1"));
}

t.test("re-frames chunk-signed bodies, however the bytes arrive", async (t) => {
  const data = randomBytes(1000);
  const checksum = `${SHA256}:${createHash("sha256").update(data).digest("base64")}`;
  for (const step of [0, 1, 7, 333]) {
    for (const trailer of [undefined, checksum]) {
      const name = trailer === undefined ? undefined : SHA256;
      const out = await strip(
        signedBody(data, 300, trailer),
        { decodedLength: 1000, trailer: name, chunkBytes: 256 },
        step,
      );
      const expected =
        `100\r\n${data.subarray(0, 256).toString("latin1")}\r\n100\r\n${data.subarray(256, 512).toString("latin1")}\r\n` +
        `100\r\n${data.subarray(512, 768).toString("latin1")}\r\ne8\r\n${data.subarray(768).toString("latin1")}\r\n` +
        `0\r\n${trailer === undefined ? "" : `${trailer}\r\n`}\r\n`;
      t.equal(out, expected, `step ${step}, trailer ${name}`);
      t.equal(reframedLength(1000, name, 256), expected.length, "the announced length is the sent length");
    }
  }
});

t.test("an empty body, and trailer lines ending in a bare LF", async (t) => {
  t.equal(await strip(signedBody(Buffer.alloc(0), 10), { decodedLength: 0, chunkBytes: 8 }), "0\r\n\r\n");
  const body = Buffer.from(
    `3;chunk-signature=${SIG}\r\nabc\r\n0;chunk-signature=${SIG}\r\nx-amz-checksum-crc32:AAAAAA==\nx-amz-trailer-signature:${SIG}\n\n`,
  );
  t.equal(
    await strip(body, { decodedLength: 3, trailer: "x-amz-checksum-crc32", chunkBytes: 8 }),
    "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
  );
});

t.test("a broken framing fails the stream", async (t) => {
  const ok = signedBody(Buffer.from("hello world"), 5, `${SHA256}:${"A".repeat(43)}=`);
  const crc = "x-amz-checksum-crc32:AAAAAA==";
  const cases: Array<[string, Buffer | string, number, string | undefined]> = [
    ["cut mid-way", ok.subarray(0, 40), 11, SHA256],
    ["no signature", "5\r\nhello\r\n0\r\n\r\n", 5, undefined],
    ["short signature", `5;chunk-signature=abc\r\nhello\r\n0;chunk-signature=${SIG}\r\n\r\n`, 5, undefined],
    ["size not hex", `g;chunk-signature=${SIG}\r\n`, 5, undefined],
    ["data not followed by CRLF", `5;chunk-signature=${SIG}\r\nhelloXX`, 5, undefined],
    ["more data than declared", signedBody(Buffer.from("hello!"), 6), 5, undefined],
    ["less data than declared", signedBody(Buffer.from("hell"), 4), 5, undefined],
    [
      "bytes after the end",
      Buffer.concat([signedBody(Buffer.from("hello"), 5), Buffer.from("x")]),
      5,
      undefined,
    ],
    ["final chunk then garbage", `0;chunk-signature=${SIG}\r\nxx\r\n`, 0, undefined],
    ["line too long", `5;chunk-signature=${"a".repeat(300)}`, 5, undefined],
    [
      "missing checksum",
      `0;chunk-signature=${SIG}\r\nx-amz-trailer-signature:${SIG}\r\n\r\n`,
      0,
      "x-amz-checksum-crc32",
    ],
    ["other trailer", `0;chunk-signature=${SIG}\r\nx-amz-meta-a:AAAAAA==\r\n\r\n`, 0, "x-amz-checksum-crc32"],
    ["checksum twice", `0;chunk-signature=${SIG}\r\n${crc}\r\n${crc}\r\n\r\n`, 0, "x-amz-checksum-crc32"],
    [
      "too many trailer lines",
      `0;chunk-signature=${SIG}\r\n${crc}\r\nx-amz-trailer-signature:${SIG}\r\nx-amz-trailer-signature:${SIG}\r\n\r\n`,
      0,
      "x-amz-checksum-crc32",
    ],
    [
      "checksum of the wrong length",
      `0;chunk-signature=${SIG}\r\nx-amz-checksum-crc32:AAAA\r\n\r\n`,
      0,
      "x-amz-checksum-crc32",
    ],
    [
      "checksum not base64",
      `0;chunk-signature=${SIG}\r\nx-amz-checksum-crc32:AAAAAA!!\r\n\r\n`,
      0,
      "x-amz-checksum-crc32",
    ],
    ["no colon", `0;chunk-signature=${SIG}\r\nx-amz-checksum-crc32\r\n\r\n`, 0, "x-amz-checksum-crc32"],
  ];
  for (const [name, body, decodedLength, trailer] of cases) {
    await t.rejects(
      strip(Buffer.from(body), { decodedLength, trailer, chunkBytes: 4 }),
      { name: "Refusal", reason: "bad_chunks" },
      name,
    );
  }
});
