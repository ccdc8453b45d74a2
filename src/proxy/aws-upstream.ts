import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { callerCredentials, callerPrefix } from "../aws/caller-credentials.js";
import { ChunkSignatureStripper } from "../aws/chunked-body.js";
import type { TemporaryCredentials } from "../aws/credentials.js";
import type { IdentityPoolTarget } from "../aws/pools.js";
import { type Signer, UNSIGNED_PAYLOAD } from "../aws/signer.js";
import {
  type ChunkedPayload,
  chunkedPayload,
  PLAIN_PAYLOAD,
  REFRAMED_CHUNK_BYTES,
  reframedLength,
  STREAMING_UNSIGNED_TRAILER,
} from "../core/aws-chunked.js";
import { awsRequestHeaders, refuseClientSigning, refuseQuerySignature } from "../core/aws-request.js";
import { REDACTED, SecretScrubber, scrubAwsAnswerHeaders, scrubAwsErrorBody } from "../core/aws-scrub.js";
import { checkDynamoDbRequest } from "../core/dynamodb-scope.js";
import type { RequestHeaderFilter } from "../core/headers.js";
import { canonicalS3Path, checkS3Request, type S3Addressing } from "../core/s3-scope.js";
import type { TokenSource } from "../core/token-source.js";
import { Refusal } from "../errors.js";
import type { ErrorBodyFilter } from "./forwarder.js";
import { type HeldBodyBudget, readHeldBody } from "./held-body.js";
import {
  type AuthorizedExchange,
  NOTHING_HELD,
  type PreparedRequest,
  type UpstreamStrategy,
} from "./upstream.js";

/** An AWS upstream of one route, compiled once from the config. */
export interface AwsUpstreamProps {
  readonly service: string;
  readonly origin: string;
  /** The Host header the upstream receives, which the signature covers. */
  readonly host: string;
  readonly timeoutMs: number;
  readonly upstreamPath: (path: string) => string;
  /** The fixed drops, every route's identity headers, the route's token header and the headers cupbearer replaces. */
  readonly filter: RequestHeaderFilter;
  /** Takes a query-parameter token out of the query before it is signed. */
  readonly tokenSource: TokenSource | undefined;
  readonly signer: Signer;
  readonly identityPool: IdentityPoolTarget;
  readonly s3: { readonly keyPrefix: string | undefined; readonly addressing: S3Addressing } | undefined;
  readonly dynamodb:
    | { readonly tables?: ReadonlySet<string>; readonly operations?: ReadonlySet<string> }
    | undefined;
  /** Bound of one held body (every service but S3). */
  readonly maxBodyBytes: number;
  /** Bound of all held bodies together. */
  readonly heldBodies: HeldBodyBudget;
  /** Counts a request signed and about to be sent. */
  readonly onSigned: () => void;
}

const ERROR_BODY_MAX_BYTES = 65_536;

/** Tells a caller its identity id, so it can build `{identityId}/` keys. */
export const IDENTITY_ID_HEADER = "x-cupbearer-identity-id";

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/**
 * A service that answers to a SigV4 signature alone: the caller's token buys AWS credentials at an
 * identity pool, the request is confined (S3 key prefix, DynamoDB tables and operations) and
 * signed with them. Only S3 bodies stream; others are held, bounded, to be hashed.
 */
export class AwsUpstream implements UpstreamStrategy {
  readonly upgrades = false;
  readonly kind: string;
  readonly origin: string;
  readonly timeoutMs: number;
  /** The S3 prefix last resolved for each credentials object, and the sub it was resolved for. */
  readonly #prefixes = new WeakMap<TemporaryCredentials, { readonly sub: string; readonly prefix: string }>();

  constructor(private readonly props: AwsUpstreamProps) {
    this.kind = props.service;
    this.origin = props.origin;
    this.timeoutMs = props.timeoutMs;
  }

  /** Synchronous on the usual S3 request (credentials cached, the body streamed): no promise made. */
  prepare(exchange: AuthorizedExchange): PreparedRequest | Promise<PreparedRequest> {
    const { props } = this;
    const query = props.tokenSource?.stripFromQuery(exchange.query) ?? exchange.query;
    // S3 alone takes aws-chunked uploads; elsewhere the framing would reach the service as data.
    const payload = this.payloadOf(exchange.req, query);
    const lookup = callerCredentials(props.identityPool, exchange, props.s3?.keyPrefix);
    return lookup instanceof Promise
      ? lookup.then((credentials) => this.forCaller(exchange, query, payload, credentials))
      : this.forCaller(exchange, query, payload, lookup);
  }

  /** From here on every answer, refusals included, tells the caller who it is. */
  private forCaller(
    exchange: AuthorizedExchange,
    query: string,
    payload: ChunkedPayload,
    credentials: TemporaryCredentials,
  ): PreparedRequest | Promise<PreparedRequest> {
    const identityHeader = { [IDENTITY_ID_HEADER]: credentials.identityId };
    try {
      const prepared = this.toSend(exchange, query, payload, credentials, identityHeader);
      return prepared instanceof Promise
        ? prepared.catch((err: unknown) => tellIdentity(err, identityHeader))
        : prepared;
    } catch (err) {
      return tellIdentity(err, identityHeader);
    }
  }

  /** How the body travels: S3 alone takes aws-chunked uploads; elsewhere the framing would be data. */
  private payloadOf(req: IncomingMessage, query: string): ChunkedPayload {
    if (this.props.s3 === undefined) {
      refuseClientSigning(headerOf(req, "x-amz-content-sha256"), headerOf(req, "content-encoding"), query);
      return PLAIN_PAYLOAD;
    }
    refuseQuerySignature(query);
    return chunkedPayload(
      headerOf(req, "x-amz-content-sha256"),
      headerOf(req, "content-encoding"),
      headerOf(req, "x-amz-decoded-content-length"),
      headerOf(req, "x-amz-trailer"),
    );
  }

  /** The path and body to send, confined (S3) or checked (held bodies), then signed. */
  private toSend(
    exchange: AuthorizedExchange,
    query: string,
    payload: ChunkedPayload,
    credentials: TemporaryCredentials,
    identityHeader: Record<string, string>,
  ): PreparedRequest | Promise<PreparedRequest> {
    const { props } = this;
    let path = props.upstreamPath(exchange.path);
    if (props.s3 === undefined) {
      return this.heldBody(exchange).then((body) => {
        try {
          return this.signedRequest(exchange, path, query, body, credentials, identityHeader);
        } catch (err) {
          body.release();
          throw err;
        }
      });
    }
    try {
      path = canonicalS3Path(path);
    } catch {
      throw new Refusal("bad_path", "S3 key is not UTF-8");
    }
    this.confineS3(exchange, path, query, credentials);
    return this.signedRequest(
      exchange,
      path,
      query,
      streamedBody(exchange, payload),
      credentials,
      identityHeader,
    );
  }

  /** Every service but S3: the body held (bounded), checked and hashed, as SigV4 needs its hash. */
  private async heldBody(exchange: AuthorizedExchange): Promise<OutgoingBody> {
    const { props } = this;
    const { req } = exchange;
    if (exchange.hasBody && Number(req.headers["content-length"] ?? "0") <= props.maxBodyBytes) {
      exchange.continueBody();
    }
    const held = await readHeldBody(req, props.maxBodyBytes, props.heldBodies);
    let checked: Buffer;
    try {
      checked = this.checkedBody(req, held.bytes);
    } catch (err) {
      held.release();
      throw err;
    }
    return {
      body: checked,
      contentLength: String(checked.length),
      payloadHash: createHash("sha256").update(checked).digest("hex"),
      release: held.release,
    };
  }

  /** The request as it goes upstream, signed with the caller's credentials; its answers scrubbed of them. */
  private signedRequest(
    exchange: AuthorizedExchange,
    path: string,
    query: string,
    { body, contentLength, payloadHash, release }: OutgoingBody,
    credentials: TemporaryCredentials,
    identityHeader: Record<string, string>,
  ): PreparedRequest {
    const { props } = this;
    const { req } = exchange;
    const { headers, signed } = awsRequestHeaders(req.rawHeaders, props.filter, req.headers.connection, {
      requestId: exchange.requestId,
      contentLength,
      host: props.host,
    });
    const signature = props.signer.sign(
      {
        method: exchange.method,
        host: props.host,
        path,
        query: query.slice(1),
        headers: signed,
        payloadHash,
      },
      credentials,
      new Date(),
    );
    for (const [name, value] of Object.entries(signature)) headers.push(name, value);
    props.onSigned();
    const scrub = scrubbing(credentials, signature.authorization);
    return {
      method: exchange.method,
      path: path + query,
      headers,
      body,
      release,
      errorBody: scrub.body,
      answerHeaders: (out, status) => {
        scrub.headers(out, status);
        Object.assign(out, identityHeader);
      },
    };
  }

  /** S3 keyPrefix confinement, decided before anything is signed. */
  private confineS3(
    exchange: AuthorizedExchange,
    path: string,
    query: string,
    credentials: TemporaryCredentials,
  ): void {
    const template = this.props.s3?.keyPrefix;
    if (template === undefined) return;
    // Guests share one identity and have no sub: a per-caller prefix would be everyone's.
    if (exchange.identity === undefined && /\{(sub|identityId)\}/.test(template)) {
      throw new Refusal("outside_prefix", "guests have no prefix of their own");
    }
    const prefix = this.prefixOf(template, credentials, exchange.identity?.subject ?? "");
    const verdict = checkS3Request(
      {
        method: exchange.method,
        path,
        query: query.slice(1),
        copySource: headerOf(exchange.req, "x-amz-copy-source"),
      },
      prefix,
      this.props.s3?.addressing ?? "path",
    );
    if (verdict.allow) return;
    throw new Refusal(verdict.reason, "S3 request");
  }

  /**
   * The caller's prefix, resolved once per credentials object (they are cached per identity, so
   * the same object signs each of its requests) and sub.
   */
  private prefixOf(template: string, credentials: TemporaryCredentials, sub: string): string {
    const known = this.#prefixes.get(credentials);
    if (known?.sub === sub) return known.prefix;
    const prefix = callerPrefix(template, credentials.identityId, sub);
    this.#prefixes.set(credentials, { sub, prefix });
    return prefix;
  }

  /**
   * A held body as it is sent: checked against the DynamoDB allow-lists and re-serialized, so what
   * was checked is what is sent (with a key given twice, {"TableName":"A","TableName":"B"}, the
   * parser keeps one and the service might read the other).
   */
  private checkedBody(req: IncomingMessage, bytes: Buffer): Buffer {
    const { dynamodb } = this.props;
    if (dynamodb === undefined) return bytes;
    const parsed = parseJson(bytes);
    const verdict = checkDynamoDbRequest(headerOf(req, "x-amz-target"), parsed, dynamodb);
    if (!verdict.allow) throw new Refusal(verdict.reason, "DynamoDB request");
    return parsed === undefined ? bytes : Buffer.from(JSON.stringify(parsed), "utf8");
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** The body as it goes upstream, and what SigV4 signs of it. */
interface OutgoingBody {
  readonly body: Readable | Buffer | null;
  readonly contentLength: string | undefined;
  readonly payloadHash: string;
  /** Gives back a held body's bytes. */
  readonly release: () => void;
}

/** S3 takes unsigned payloads over TLS, so its body streams through, never held. */
function streamedBody(exchange: AuthorizedExchange, payload: ChunkedPayload): OutgoingBody {
  const { req } = exchange;
  const body = exchange.hasBody ? req : null;
  const contentLength = req.headers["content-length"];
  if (payload.kind === "unsigned-trailer") {
    return { body, contentLength, payloadHash: STREAMING_UNSIGNED_TRAILER, release: NOTHING_HELD };
  }
  if (payload.kind === "signed-chunks") {
    // The client's chunk signatures are dropped as the body streams; the trailer stays.
    return {
      body: stripChunkSignatures(req, payload.decodedLength, payload.trailer),
      contentLength: String(reframedLength(payload.decodedLength, payload.trailer, REFRAMED_CHUNK_BYTES)),
      payloadHash: STREAMING_UNSIGNED_TRAILER,
      release: NOTHING_HELD,
    };
  }
  return { body, contentLength, payloadHash: UNSIGNED_PAYLOAD, release: NOTHING_HELD };
}

/** A refusal made once the caller's identity is known carries its id too. */
function tellIdentity(err: unknown, identityHeader: Record<string, string>): never {
  if (err instanceof Refusal) err.headers = { ...err.headers, ...identityHeader };
  throw err;
}

/** Each set of credentials' scrubber, built once (credentials are cached, so objects repeat). */
const SCRUBBERS = new WeakMap<TemporaryCredentials, SecretScrubber>();

function scrubberOf(credentials: TemporaryCredentials): SecretScrubber {
  let scrubber = SCRUBBERS.get(credentials);
  if (scrubber === undefined) {
    scrubber = new SecretScrubber([credentials.sessionToken, credentials.accessKeyId]);
    SCRUBBERS.set(credentials, scrubber);
  }
  return scrubber;
}

/**
 * Answers lose every echo of the credentials that signed the request: error and redirect bodies
 * are scrubbed of them (and of the signature), headers carrying them are dropped.
 */
function scrubbing(
  credentials: TemporaryCredentials,
  authorization: string,
): { body: ErrorBodyFilter; headers: (out: Record<string, string | string[]>, status: number) => void } {
  return {
    body: {
      maxBytes: ERROR_BODY_MAX_BYTES,
      rewrite: (text) => {
        const out = scrubAwsErrorBody(text, scrubberOf(credentials));
        // Found only here, for the few answers rewritten: a RegExp per request costs ~0.4 µs.
        const signature = /Signature=([0-9a-f]{64})/.exec(authorization)?.[1];
        return signature === undefined ? out : out.replace(new RegExp(signature, "gi"), REDACTED);
      },
    },
    headers: (out, status) => scrubAwsAnswerHeaders(out, scrubberOf(credentials), status),
  };
}

/** The chunk-signed body re-framed as it streams; a client that stops mid-way fails it. */
function stripChunkSignatures(
  req: IncomingMessage,
  decodedLength: number,
  trailer: string | undefined,
): Readable {
  const stripper = new ChunkSignatureStripper({ decodedLength, trailer, chunkBytes: REFRAMED_CHUNK_BYTES });
  const broken = () => {
    if (!req.complete) stripper.destroy(new Refusal("body_incomplete", "request body not received"));
  };
  req.on("error", broken).on("close", broken);
  // On a framing error the client's body is left unread: the answer closes the connection.
  stripper.on("error", () => req.unpipe(stripper));
  req.pipe(stripper);
  return stripper;
}
