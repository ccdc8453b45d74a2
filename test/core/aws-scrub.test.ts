import t from "tap";
import {
  REDACTED,
  SecretScrubber,
  scrubAwsAnswerHeaders,
  scrubAwsErrorBody,
} from "../../src/core/aws-scrub.js";

const TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc=";
const KEY = "ASIAEXAMPLEKEY12345";
const hex = (s: string) => Buffer.from(s, "utf8").toString("hex");
const spacedHex = (s: string) => hex(s).replace(/(..)(?!$)/g, "$1 ");

// The shape of S3's SignatureDoesNotMatch answer, which echoes what was signed.
const S3_ERROR = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>${KEY}</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256
20261126T120000Z
20261126/us-east-1/s3/aws4_request
abc</StringToSign><SignatureProvided>0123abcd</SignatureProvided><StringToSignBytes>${spacedHex("AWS4")}</StringToSignBytes><CanonicalRequest>GET
/bucket/key

host:s3.amazonaws.com
x-amz-security-token:${TOKEN}

host;x-amz-security-token
UNSIGNED-PAYLOAD</CanonicalRequest><CanonicalRequestBytes>${spacedHex(`x-amz-security-token:${TOKEN}`)}</CanonicalRequestBytes><RequestId>R1</RequestId><HostId>H1</HostId></Error>`;

t.test("S3's signature echo loses every element that repeats the signed request", async (t) => {
  const out = scrubAwsErrorBody(S3_ERROR, [TOKEN, KEY]);
  t.match(out, /<Code>SignatureDoesNotMatch<\/Code>/, "the error code stays: clients act on it");
  t.match(out, /<RequestId>R1<\/RequestId><HostId>H1<\/HostId>/, "request ids stay for support");
  for (const gone of ["CanonicalRequest", "StringToSign", "SignatureProvided", "AWSAccessKeyId"]) {
    t.notMatch(out, new RegExp(`<${gone}`), `${gone} removed`);
  }
  t.notOk(out.includes(TOKEN), "no session token");
  t.notOk(out.includes(KEY), "no access key id");
});

t.test("DynamoDB's quoted canonical string is cut from its JSON message", async (t) => {
  const body = JSON.stringify({
    __type: "com.amazon.coral.service#InvalidSignatureException",
    message: `The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'POST\n/\n\nx-amz-security-token:${TOKEN}\n'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\nabc'\n`,
  });
  const out = scrubAwsErrorBody(body, []);
  const parsed = JSON.parse(out) as { __type: string; message: string };
  t.equal(parsed.__type, "com.amazon.coral.service#InvalidSignatureException");
  t.match(parsed.message, /^The request signature we calculated does not match/);
  t.notOk(out.includes(TOKEN), "the canonical string is gone even without naming the secret");
  t.match(parsed.message, /should have been \[redacted\]/);
});

t.test("a secret is replaced in every spelling a body could carry", async (t) => {
  for (const spelling of [
    TOKEN,
    encodeURIComponent(TOKEN),
    TOKEN.replaceAll("/", "\\/"),
    hex(TOKEN),
    spacedHex(TOKEN),
  ]) {
    const out = scrubAwsErrorBody(`before ${spelling} after`, [TOKEN]);
    t.equal(out, `before ${REDACTED} after`, spelling.slice(0, 20));
  }
});

t.test("ordinary error bodies pass through unchanged", async (t) => {
  const body = `<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>private/a b/c</Key></Error>`;
  t.equal(scrubAwsErrorBody(body, [TOKEN, KEY]), body);
  t.equal(
    scrubAwsErrorBody('{"__type":"ResourceNotFoundException"}', [TOKEN]),
    '{"__type":"ResourceNotFoundException"}',
  );
});

t.test("secrets too short to be credentials are not replaced (they would mangle text)", async (t) => {
  t.equal(scrubAwsErrorBody("<Code>AccessDenied</Code>", ["Access", ""]), "<Code>AccessDenied</Code>");
});

t.test(
  "every spelling of issue 9: percent-encoding, character references, \\u escapes, base64, hex, wrapped lines",
  async (t) => {
    const pct = (s: string, lower: boolean) =>
      [...Buffer.from(s)]
        .map((b) => `%${b.toString(16).padStart(2, "0")}`)
        .join("")
        [lower ? "toLowerCase" : "toUpperCase"]();
    const charRefs = (s: string, hexRefs: boolean) =>
      [...s]
        .map((c) => (hexRefs ? `&#x${c.charCodeAt(0).toString(16).toUpperCase()};` : `&#${c.charCodeAt(0)};`))
        .join("");
    const jsonEscapes = (s: string) =>
      [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");
    const wrap = (s: string, width: number) =>
      (s.match(new RegExp(`.{1,${width}}`, "g")) ?? []).join("\r\n  ");
    const spellings: Array<[string, string]> = [
      ["as is", TOKEN],
      ["percent-encoded, upper case", pct(TOKEN, false)],
      ["percent-encoded, lower case", pct(TOKEN, true)],
      [
        "encodeURIComponent, lower-cased escapes",
        encodeURIComponent(TOKEN).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
      ],
      ["XML decimal references", charRefs(TOKEN, false)],
      ["XML hex references", charRefs(TOKEN, true)],
      ["JSON \\u escapes", jsonEscapes(TOKEN)],
      ["JSON \\/", TOKEN.replaceAll("/", "\\/")],
      ["hex, upper case", hex(TOKEN).toUpperCase()],
      ["hex, spaced", spacedHex(TOKEN)],
    ];
    for (const [name, spelling] of spellings) {
      const out = scrubAwsErrorBody(`<Message>before ${spelling} after</Message>`, [TOKEN, KEY]);
      t.notOk(out.includes(spelling), name);
      t.match(out, /^<Message>before \[redacted\] after<\/Message>$/, name);
    }
    // Split across lines, a spelling cannot be replaced in place: the body is dropped whole.
    for (const [name, spelling] of [
      ["hex, spaced and wrapped", wrap(spacedHex(TOKEN), 48)],
      ["wrapped lines", wrap(TOKEN, 20)],
      ["percent-encoded and wrapped", wrap(pct(KEY, true), 9)],
    ] as const) {
      t.equal(scrubAwsErrorBody(`<Message>before ${spelling} after</Message>`, [TOKEN, KEY]), "", name);
    }
    // Base64, alone or inside a longer encoded text at each alignment, wrapped or not.
    for (const lead of ["", "a", "ab", "abc"]) {
      const encoded = Buffer.from(`${lead}token=${TOKEN};key=${KEY};`).toString("base64");
      for (const text of [encoded, wrap(encoded, 76)]) {
        const out = scrubAwsErrorBody(`<Data>${text}</Data>`, [TOKEN, KEY]);
        t.ok(out === "" || out.includes(REDACTED), `base64 after ${JSON.stringify(lead)}`);
        const decoded = Buffer.from(
          out.replace(/\[redacted\]/g, "").replace(/<\/?Data>|\s/g, ""),
          "base64",
        ).toString();
        t.notOk(decoded.includes(TOKEN.slice(4, 40)), "no recognizable part of the token is left");
        t.notOk(decoded.includes(KEY.slice(4)), "no recognizable part of the key is left");
      }
    }
  },
);

t.test("echo elements go even with attributes or a namespace prefix", async (t) => {
  const body = `<Error><Code>SignatureDoesNotMatch</Code><StringToSign xml:space="preserve">x</StringToSign><s3:CanonicalRequest a="1">y</s3:CanonicalRequest ><AWSAccessKeyId>k</AWSAccessKeyId></Error>`;
  t.equal(scrubAwsErrorBody(body, []), "<Error><Code>SignatureDoesNotMatch</Code></Error>");
});

t.test("answer headers never carry the credentials", async (t) => {
  const scrubber = new SecretScrubber([TOKEN, KEY]);
  const headers: Record<string, string | string[]> = {
    authorization: "AWS4-HMAC-SHA256 Credential=x",
    "x-amz-security-token": "anything",
    "x-echo": `key=${encodeURIComponent(KEY)}`,
    "x-list": ["fine", `t=${TOKEN}`],
    location: "https://bucket.s3.amazonaws.com/key",
    "content-type": "application/xml",
  };
  scrubAwsAnswerHeaders(headers, scrubber, 403);
  t.strictSame(headers, {
    location: "https://bucket.s3.amazonaws.com/key",
    "content-type": "application/xml",
  });
  const plain: Record<string, string> = { authorization: "x", "x-fine": TOKEN };
  scrubAwsAnswerHeaders(plain, undefined, 200);
  t.strictSame(plain, { "x-fine": TOKEN }, "without secrets only the credential headers go");
  t.ok(new SecretScrubber(["short", ""]).empty);
  const success: Record<string, string> = {
    "x-plain": `a ${KEY}`,
    "x-encoded": encodeURIComponent(`/${TOKEN}`),
  };
  scrubAwsAnswerHeaders(success, scrubber, 200);
  t.strictSame(
    success,
    { "x-encoded": encodeURIComponent(`/${TOKEN}`) },
    "successes: only the secrets as they are",
  );
});
