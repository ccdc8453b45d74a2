import t from "tap";
import { dropBodyDigests } from "../../src/core/body-digests.js";

t.test("every header describing the body's bytes goes; the rest stays", async (t) => {
  const headers: Record<string, string> = {
    "x-amz-crc32": "123",
    "Content-MD5": "abc",
    etag: '"abc"',
    "x-amz-checksum-crc32": "AAAAAA==",
    "x-amz-checksum-sha256": "x",
    digest: "sha-256=x",
    "content-digest": "sha-256=:x:",
    "repr-digest": "sha-256=:x:",
    "content-type": "application/xml",
    "x-amz-request-id": "r",
    "content-length": "10",
  };
  dropBodyDigests(headers);
  t.strictSame(headers, {
    "content-type": "application/xml",
    "x-amz-request-id": "r",
    "content-length": "10",
  });
});
