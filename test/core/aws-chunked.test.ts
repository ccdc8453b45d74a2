import t from "tap";
import { chunkedPayload, REFRAMED_CHUNK_BYTES, reframedLength } from "../../src/core/aws-chunked.js";

const CHUNKED = "aws-chunked";

t.test("chunkedPayload: which framing a request uses", async (t) => {
  t.strictSame(chunkedPayload(undefined, undefined, undefined, undefined), { kind: "plain" });
  t.strictSame(chunkedPayload("UNSIGNED-PAYLOAD", "gzip", undefined, undefined), { kind: "plain" });
  t.strictSame(chunkedPayload("STREAMING-UNSIGNED-PAYLOAD-TRAILER", CHUNKED, "5", "x-amz-checksum-crc32"), {
    kind: "unsigned-trailer",
  });
  t.strictSame(chunkedPayload("STREAMING-UNSIGNED-PAYLOAD-TRAILER", `gzip, ${CHUNKED}`, "0", undefined), {
    kind: "unsigned-trailer",
  });
  t.strictSame(chunkedPayload("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", CHUNKED, "10", undefined), {
    kind: "signed-chunks",
    decodedLength: 10,
    trailer: undefined,
  });
  t.strictSame(
    chunkedPayload("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", CHUNKED, "10", " X-Amz-Checksum-SHA256 "),
    { kind: "signed-chunks", decodedLength: 10, trailer: "x-amz-checksum-sha256" },
  );
});

t.test("chunkedPayload: framings cupbearer cannot vouch for are refused", async (t) => {
  const refused: Array<
    [string, string | undefined, string | undefined, string | undefined, string | undefined]
  > = [
    ["streaming value without aws-chunked", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", undefined, "1", undefined],
    ["aws-chunked without a streaming value", "UNSIGNED-PAYLOAD", CHUNKED, "1", undefined],
    ["no decoded length", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", CHUNKED, undefined, undefined],
    ["odd decoded length", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", CHUNKED, "01", undefined],
    ["negative decoded length", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", CHUNKED, "-1", undefined],
    ["over 5 GiB", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", CHUNKED, String(5 * 1024 ** 3 + 1), undefined],
    ["unknown trailer", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", CHUNKED, "1", "x-amz-meta-a"],
    ["unknown streaming value", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", CHUNKED, "1", undefined],
    [
      "trailer on the untrailed form",
      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
      CHUNKED,
      "1",
      "x-amz-checksum-crc32",
    ],
    ["trailer form without a trailer", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", CHUNKED, "1", undefined],
  ];
  for (const [name, sha, encoding, length, trailer] of refused) {
    t.throws(
      () => chunkedPayload(sha, encoding, length, trailer),
      { name: "Refusal", reason: "client_signature" },
      name,
    );
  }
});

t.test("reframedLength: chunks of a fixed size, the final chunk, the trailer", async (t) => {
  t.equal(reframedLength(0, undefined, 4), "0\r\n\r\n".length);
  t.equal(reframedLength(4, undefined, 4), "4\r\nabcd\r\n0\r\n\r\n".length);
  t.equal(reframedLength(5, undefined, 4), "4\r\nabcd\r\n1\r\ne\r\n0\r\n\r\n".length);
  t.equal(
    reframedLength(3, "x-amz-checksum-crc32", 4),
    "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n".length,
  );
  t.equal(
    reframedLength(REFRAMED_CHUNK_BYTES * 2, "x-amz-checksum-sha256", REFRAMED_CHUNK_BYTES),
    2 * (5 + 2 + REFRAMED_CHUNK_BYTES + 2) + 3 + "x-amz-checksum-sha256:".length + 44 + 2 + 2,
  );
});
