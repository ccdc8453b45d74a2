import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { AwsCredentials, CredentialsError } from "../aws/credentials.js";
import type { IdentityPoolTarget } from "../aws/pools.js";
import { createSigner, type HeaderMap, type Signer, UNSIGNED_PAYLOAD } from "../aws/signer.js";
import type { RouteConfig } from "../config/schema.js";
import { chooseRole } from "../core/aws-role.js";
import { scrubAwsErrorBody } from "../core/aws-scrub.js";
import { checkDynamoDbRequest } from "../core/dynamodb-scope.js";
import type { Identity } from "../core/identity.js";
import {
  canonicalS3Path,
  checkS3Request,
  resolveKeyPrefix,
  type S3Addressing,
  s3SessionPolicy,
} from "../core/s3-scope.js";
import { GatewayError } from "../errors.js";
import type { ErrorBodyFilter } from "./forwarder.js";

/** An AWS upstream of one route, compiled once from the config. */
export interface AwsTarget {
  readonly service: string;
  /** The Host header the upstream receives, which the signature covers. */
  readonly host: string;
  readonly signer: Signer;
  readonly pool: IdentityPoolTarget;
  readonly s3: { readonly keyPrefix: string | undefined; readonly addressing: S3Addressing } | undefined;
  readonly dynamodb:
    | { readonly tables?: ReadonlySet<string>; readonly operations?: ReadonlySet<string> }
    | undefined;
  readonly maxBodyBytes: number;
}

/** Signers are shared by every route of one (service, region): their key caches too. */
export type SignerCache = Map<string, Signer>;

export function compileAwsTarget(
  upstream: RouteConfig["upstream"],
  pools: ReadonlyMap<string, IdentityPoolTarget>,
  signers: SignerCache,
): AwsTarget | undefined {
  const { aws } = upstream;
  if (aws === undefined) return undefined;
  const pool = pools.get(aws.identityPool);
  // The schema checks every reference; a missing one here is a bug, not a config problem.
  if (pool === undefined) throw new Error(`identity pool ${aws.identityPool} was not built`);
  const signerKey = `${aws.service}\n${aws.region}`;
  let signer = signers.get(signerKey);
  if (signer === undefined) {
    signer = createSigner({ service: aws.service, region: aws.region });
    signers.set(signerKey, signer);
  }
  const { s3, dynamodb } = upstream;
  const setOf = (list: readonly string[] | undefined) => (list === undefined ? undefined : new Set(list));
  return {
    service: aws.service,
    host: new URL(upstream.url).host,
    signer,
    pool,
    s3: aws.service === "s3" ? { keyPrefix: s3?.keyPrefix, addressing: s3?.addressing ?? "path" } : undefined,
    dynamodb:
      dynamodb === undefined
        ? undefined
        : {
            ...(dynamodb.tables && { tables: setOf(dynamodb.tables) }),
            ...(dynamodb.operations && { operations: setOf(dynamodb.operations) }),
          },
    maxBodyBytes: aws.maxBodyBytes,
  };
}

/** The caller as the AWS route sees it: a verified identity and its token, or a guest. */
export interface AwsCaller {
  readonly identity: Identity | undefined;
  readonly token: string | undefined;
}

/** The request as cupbearer would forward it before signing. */
export interface UnsignedRequest {
  readonly method: string;
  /** Path as it goes upstream, without the query. */
  readonly path: string;
  /** Query with its leading "?", or "". */
  readonly query: string;
  /** Flat name/value list, already filtered of hop-by-hop and forwarding headers. */
  readonly headers: readonly string[];
}

export interface SignedRequest {
  readonly path: string;
  readonly headers: string[];
  readonly body: IncomingMessage | Buffer | null;
  readonly errorBody: ErrorBodyFilter;
  readonly credentials: AwsCredentials;
  /** Gives a held body's bytes back to the budget; call once the answer is done. */
  readonly release: () => void;
}

/**
 * Headers the client may not choose on a signed request (cupbearer sets or refuses them), and
 * the forwarding headers, which would only tell AWS the client's address.
 */
const CLIENT_DROP = new Set([
  "authorization",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "cookie",
  "host",
  "content-length",
  "x-amz-date",
  "x-amz-security-token",
  "x-amz-content-sha256",
]);

/** Besides x-amz-*, which S3 requires signed, the headers whose change in transit must break the signature. */
const SIGNED = new Set(["content-type", "content-md5"]);

const QUERY_SIGNATURE = /(?:^|[?&])x-amz-(?:signature|credential|algorithm|security-token)=/i;
const ERROR_BODY_MAX_BYTES = 65_536;
const BUSY_RETRY_AFTER_SECONDS = 1;

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/**
 * Refusals that need no credentials: a signature of the client's own (it would fight ours) and
 * AWS's chunk-signed upload framing, which would end up inside the stored object.
 */
function refuseClientSigning(req: IncomingMessage, query: string): void {
  if (/^STREAMING-/i.test(headerOf(req, "x-amz-content-sha256") ?? "")) {
    throw new GatewayError("bad_request", "unsupported_payload", "chunk-signed (aws-chunked) upload");
  }
  if (/aws-chunked/i.test(headerOf(req, "content-encoding") ?? "")) {
    throw new GatewayError("bad_request", "unsupported_payload", "aws-chunked content encoding");
  }
  if (QUERY_SIGNATURE.test(query)) {
    throw new GatewayError("bad_request", "malformed", "query-string signature");
  }
}

function credentialsFailure(error: CredentialsError): GatewayError {
  if (error.kind === "invalid_token")
    return new GatewayError("invalid_token", "credentials_invalid", error.message);
  if (error.kind === "throttled") {
    return new GatewayError("unavailable", "credentials_throttled", error.message, error.retryAfterSeconds);
  }
  return new GatewayError("unavailable", "credentials_unavailable", error.message);
}

async function credentialsFor(target: AwsTarget, caller: AwsCaller): Promise<AwsCredentials> {
  const { pool } = target;
  const { identity, token } = caller;
  let result: Awaited<ReturnType<typeof pool.provider.get>>;
  if (identity === undefined || token === undefined) {
    // The schema allows guests only on pools that allow them; checked again, failing closed.
    if (!pool.allowGuests) throw new GatewayError("missing_token", "missing");
    result = await pool.provider.getGuest();
  } else {
    const { claims, subject: sub } = identity;
    // Identity pools take ID tokens only. Checked here too, since a cache hit never asks Cognito.
    if (claims.token_use !== undefined && claims.token_use !== "id") {
      throw new GatewayError("invalid_token", "token_use", "identity pools take ID tokens");
    }
    const template = target.s3?.keyPrefix;
    // The basic flow builds the session policy from the prefix inside the exchange: a sub that
    // cannot name a folder is refused first (403, not a failed exchange). Elsewhere confineS3
    // checks the prefix once, after the credentials.
    if (template !== undefined && pool.flow === "basic") {
      prefixFor(template, "us-east-1:00000000-0000-0000-0000-000000000000", sub);
    }
    result = await pool.provider.get({
      issuer: String(claims.iss),
      sub,
      idToken: token,
      ...(typeof claims.aud === "string" && { client: claims.aud }),
      roleArn: chooseRole(claims, pool, pool.flow),
      // Only the basic flow sends a session policy (STS takes one; GetCredentialsForIdentity does not).
      ...(template !== undefined &&
        pool.flow === "basic" && {
          sessionPolicy: {
            key: template,
            build: (identityId: string) => s3SessionPolicy(resolveKeyPrefix(template, { identityId, sub })),
          },
        }),
    });
  }
  if (!result.ok) throw credentialsFailure(result.error);
  return result.credentials;
}

/** The caller's key prefix; a value that cannot name a folder is nobody's prefix, so no access. */
function prefixFor(template: string, identityId: string, sub: string): string {
  try {
    return resolveKeyPrefix(template, { identityId, sub });
  } catch (err) {
    throw new GatewayError("access_denied", "outside_prefix", (err as Error).message);
  }
}

/** S3 keyPrefix confinement, decided before anything is signed. */
function confineS3(
  target: AwsTarget,
  req: IncomingMessage,
  request: UnsignedRequest,
  path: string,
  caller: AwsCaller,
  credentials: AwsCredentials,
): void {
  const template = target.s3?.keyPrefix;
  if (template === undefined) return;
  // Guests share one identity and have no sub: a per-caller prefix would be everyone's.
  if (caller.identity === undefined && /\{(sub|identityId)\}/.test(template)) {
    throw new GatewayError("access_denied", "outside_prefix", "guests have no prefix of their own");
  }
  const prefix = prefixFor(template, credentials.identityId, caller.identity?.subject ?? "");
  const verdict = checkS3Request(
    {
      method: request.method,
      path,
      query: request.query.slice(1),
      copySource: headerOf(req, "x-amz-copy-source"),
    },
    prefix,
    target.s3?.addressing ?? "path",
  );
  if (verdict.allow) return;
  if (verdict.reason === "bad_request") throw new GatewayError("bad_request", "malformed", "S3 request");
  throw new GatewayError("access_denied", verdict.reason);
}

/**
 * Bytes of request bodies held in memory at once, across all requests: each route bounds one
 * body, this bounds them all, so many concurrent uploads cannot exhaust memory.
 */
export class HeldBodyBudget {
  #held = 0;

  constructor(readonly maxBytes: number) {}

  get held(): number {
    return this.#held;
  }

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

/**
 * Reads a body of at most `max` bytes, taking them from the budget; past either, refused before
 * more is read. On success the caller owns the bytes taken and gives them back.
 */
function readBounded(req: IncomingMessage, max: number, budget: HeldBodyBudget): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > max) return Promise.reject(new GatewayError("payload_too_large", "body_too_large"));
  // Events, not for-await: leaving a for-await loop destroys the request, and with it the socket
  // the refusal must still be written to.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err?: GatewayError) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      if (err === undefined) return resolve(Buffer.concat(chunks, size));
      budget.give(size);
      chunks.length = 0;
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > max) return finish(new GatewayError("payload_too_large", "body_too_large"));
      if (!budget.take(chunk.length)) {
        return finish(
          new GatewayError("unavailable", "busy", "held bodies at their limit", BUSY_RETRY_AFTER_SECONDS),
        );
      }
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => finish();
    // The client went away or broke the framing mid-body.
    const onError = () => finish(new GatewayError("bad_request", "malformed", "request body not received"));
    const onClose = () => {
      if (!req.complete) onError();
    };
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** A body read whole (services other than S3): checked, hashed, and held until released. */
async function readCheckedBody(
  target: AwsTarget,
  req: IncomingMessage,
  budget: HeldBodyBudget,
): Promise<{ bytes: Buffer; held: number }> {
  const bytes = await readBounded(req, target.maxBodyBytes, budget);
  try {
    if (target.dynamodb === undefined) return { bytes, held: bytes.length };
    const parsed = parseJson(bytes);
    const verdict = checkDynamoDbRequest(headerOf(req, "x-amz-target"), parsed, target.dynamodb);
    if (!verdict.allow) {
      if (verdict.reason === "bad_request")
        throw new GatewayError("bad_request", "malformed", "DynamoDB request");
      throw new GatewayError("access_denied", verdict.reason);
    }
    // What was checked is what is sent: with a key given twice ({"TableName":"A","TableName":"B"})
    // the parser keeps one and the service might read the other.
    const sent = parsed === undefined ? bytes : Buffer.from(JSON.stringify(parsed), "utf8");
    return { bytes: sent, held: bytes.length };
  } catch (err) {
    budget.give(bytes.length);
    throw err;
  }
}

/**
 * Turns an authorized request for an AWS route into a signed one: credentials for the caller
 * (cached), confinement checks, the body streamed (S3) or read, bounded and hashed, the client's
 * own signing headers replaced by cupbearer's signature.
 * @param sendContinue answers Expect: 100-continue once the body is wanted.
 */
export async function signRequest(
  target: AwsTarget,
  req: IncomingMessage,
  caller: AwsCaller,
  request: UnsignedRequest,
  sendContinue: () => void,
  budget: HeldBodyBudget,
): Promise<SignedRequest> {
  refuseClientSigning(req, request.query);
  const credentials = await credentialsFor(target, caller);
  let path = request.path;
  if (target.s3 !== undefined) {
    try {
      path = canonicalS3Path(path);
    } catch {
      throw new GatewayError("bad_request", "bad_path", "S3 key is not UTF-8");
    }
    confineS3(target, req, request, path, caller, credentials);
  }

  const hasBody =
    req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  let body: IncomingMessage | Buffer | null = null;
  let payloadHash = UNSIGNED_PAYLOAD;
  let release = () => {};
  if (target.s3 !== undefined) {
    // S3 takes UNSIGNED-PAYLOAD over TLS, so the body streams through, never held.
    if (hasBody) body = req;
  } else {
    if (hasBody && Number(req.headers["content-length"] ?? "0") <= target.maxBodyBytes) sendContinue();
    const read = await readCheckedBody(target, req, budget);
    body = read.bytes;
    payloadHash = createHash("sha256").update(read.bytes).digest("hex");
    let held = read.held;
    release = () => {
      budget.give(held);
      held = 0;
    };
  }

  const headers: string[] = [];
  const toSign: Record<string, string | string[]> = {};
  const { headers: raw } = request;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (CLIENT_DROP.has(name)) continue;
    headers.push(name, value);
    if (SIGNED.has(name) || name.startsWith("x-amz-")) {
      const seen = toSign[name];
      toSign[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
    }
  }
  if (body instanceof Buffer) headers.push("content-length", String(body.length));
  else if (req.headers["content-length"] !== undefined)
    headers.push("content-length", req.headers["content-length"]);
  headers.push("host", target.host);

  const signature = target.signer.sign(
    {
      method: request.method,
      host: target.host,
      path,
      query: request.query.slice(1),
      headers: toSign as HeaderMap,
      payloadHash,
    },
    credentials,
    new Date(),
  );
  for (const [name, value] of Object.entries(signature)) headers.push(name, value);

  return {
    path: path + request.query,
    headers,
    body,
    credentials,
    release,
    errorBody: {
      maxBytes: ERROR_BODY_MAX_BYTES,
      rewrite: (text) => scrubAwsErrorBody(text, [credentials.sessionToken, credentials.accessKeyId]),
    },
  };
}
