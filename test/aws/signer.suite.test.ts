import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import t from "tap";
import {
  type AwsCredentials,
  amzDate,
  canonicalRequest,
  createSigner,
  credentialScope,
  type HeaderValue,
  headersToSign,
  type SignableRequest,
  stringToSign,
  uriEncode,
} from "../../src/aws/signer.js";

/**
 * Every Authorization-header case of the AWS SigV4 test suite (aws-c-auth, copied into
 * test/fixtures/sigv4). The `query-*` (presigned URL) expectations are not used: cupbearer
 * only signs with the Authorization header.
 */
const SUITE = new URL("../fixtures/sigv4/v4/", import.meta.url);

interface Context {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  normalize: boolean;
  region: string;
  service: string;
  sign_body: boolean;
  timestamp: string;
  omit_session_token?: boolean;
}

interface ParsedRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, HeaderValue>;
  body: string;
}

/** Parses the suite's raw HTTP request: request line, headers (with obs-fold lines), body. */
function parseRequest(text: string): ParsedRequest {
  const lines = text.split("\n");
  const requestLine = lines.shift() ?? "";
  const method = requestLine.slice(0, requestLine.indexOf(" "));
  // The path may contain a space (get-space-*): it ends at the last " HTTP/1.1".
  const target = requestLine.slice(method.length + 1, requestLine.lastIndexOf(" "));
  const q = target.indexOf("?");
  const headerLines: [string, string][] = [];
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line === "") break;
    const last = headerLines.at(-1);
    if ((line.startsWith(" ") || line.startsWith("\t")) && last !== undefined) {
      last[1] += `\n${line}`; // obs-fold continuation (get-header-value-multiline)
      continue;
    }
    const colon = line.indexOf(":");
    headerLines.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1)]);
  }
  const headers: Record<string, HeaderValue> = {};
  for (const [name, value] of headerLines) {
    const previous = headers[name];
    headers[name] =
      previous === undefined ? value : [...(typeof previous === "string" ? [previous] : previous), value];
  }
  return {
    method,
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? "" : target.slice(q + 1),
    headers,
    body: lines.slice(i + 1).join("\n"),
  };
}

function authorizationOf(signedRequest: string): string {
  const line = signedRequest.split("\n").find((l) => l.startsWith("Authorization:"));
  return (line ?? "").slice("Authorization:".length);
}

function headerOf(signedRequest: string, name: string): string | undefined {
  const line = signedRequest.split("\n").find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1);
}

function load(name: string) {
  const dir = new URL(`${name}/`, SUITE);
  const read = (f: string) => readFileSync(new URL(f, dir), "utf8");
  const context = JSON.parse(read("context.json")) as Context;
  const request = parseRequest(read("request.txt"));
  const { host, ...headers } = request.headers;
  const signable: SignableRequest = {
    method: request.method,
    host: typeof host === "string" ? host : "",
    path: request.path,
    query: request.query,
    headers,
    payloadHash: createHash("sha256").update(request.body).digest("hex"),
  };
  const credentials: AwsCredentials = {
    accessKeyId: context.credentials.access_key_id,
    secretAccessKey: context.credentials.secret_access_key,
    sessionToken: context.credentials.token,
  };
  return {
    context,
    signable,
    credentials,
    now: new Date(context.timestamp),
    expected: {
      canonicalRequest: read("header-canonical-request.txt"),
      stringToSign: read("header-string-to-sign.txt"),
      signature: read("header-signature.txt").trim(),
      signedRequest: read("header-signed-request.txt"),
    },
  };
}

const cases = readdirSync(SUITE, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

t.equal(cases.length, 38, "all 38 cases of the suite are present");

for (const name of cases) {
  t.test(name, (t) => {
    const { context, signable, credentials, now, expected } = load(name);
    // The suite always URI-encodes the path once (aws-c-auth "double URI encode" on) and
    // normalizes it only where `normalize` says so.
    const signer = createSigner({
      service: context.service,
      region: context.region,
      uriEscapePath: true,
      normalizePath: context.normalize,
      contentSha256Header: context.sign_body,
      signSessionToken: context.omit_session_token !== true,
    });
    const details = signer.explain(signable, credentials, now);
    t.equal(details.canonicalRequest, expected.canonicalRequest, "canonical request");
    t.equal(details.stringToSign, expected.stringToSign, "string to sign");
    t.equal(details.signature, expected.signature, "signature");
    t.equal(details.headers.authorization, authorizationOf(expected.signedRequest), "authorization header");
    t.same(signer.sign(signable, credentials, now), details.headers, "sign() returns explain().headers");
    // The same through the exported pure functions (the suite's header names are unique, so the
    // signed pairs make a header map).
    const pure = canonicalRequest(
      {
        ...signable,
        headers: Object.fromEntries(
          headersToSign(signable, details.headers, context.omit_session_token !== true),
        ),
      },
      { uriEscapePath: true, normalizePath: context.normalize },
    );
    t.equal(pure, expected.canonicalRequest, "pure canonicalRequest()");
    const scope = credentialScope(amzDate(now).slice(0, 8), context.region, context.service);
    t.equal(stringToSign(amzDate(now), scope, pure), expected.stringToSign, "pure stringToSign()");
    for (const header of ["x-amz-date", "x-amz-security-token", "x-amz-content-sha256"] as const) {
      t.equal(
        details.headers[header],
        headerOf(expected.signedRequest, header),
        `${header} as in the signed request`,
      );
    }
    t.end();
  });
}

// S3 rules (no second encoding, no normalization) on the wire form of the path give the
// suite's unnormalized canonical URIs: on the wire, the space of get-space-* is already %20.
for (const name of cases.filter((n) => n.endsWith("-unnormalized"))) {
  t.test(`${name} (s3 mode, wire-encoded path)`, (t) => {
    const { context, signable, credentials, now, expected } = load(name);
    const signer = createSigner({ service: context.service, region: context.region, s3: true });
    const wirePath = signable.path.split("/").map(uriEncode).join("/");
    const details = signer.explain({ ...signable, path: wirePath }, credentials, now);
    // S3 mode also signs x-amz-content-sha256, so compare only the first line pair (method, URI).
    t.equal(
      details.canonicalRequest.split("\n")[1],
      expected.canonicalRequest.split("\n")[1],
      "canonical URI",
    );
    t.end();
  });
}
