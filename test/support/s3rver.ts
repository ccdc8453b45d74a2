/**
 * @20minutes/s3rver 4.0.4 as a second S3 that checks SigV4, in a child process (so its memory
 * and event loop never mix with the proxy's in memory-flatness tests) on 127.0.0.1.
 *
 * Its only key pair is moto's identity credentials (MOTO_IDENTITY_CREDENTIALS), so a proxy
 * signing with what moto's identity pool handed out is accepted; s3rver's built-in S3RVER/S3RVER
 * pair is revoked. What s3rver does (read in its source, measured in aws-world.test.ts):
 * - A signed request with a wrong secret: 403 SignatureDoesNotMatch (its body echoes the
 *   access key id and the string to sign, never the session token or the secret).
 * - An unknown access key: 403 InvalidAccessKeyId.
 * - The session token is not checked: wrong or missing X-Amz-Security-Token is accepted as long
 *   as the signature matches what was sent.
 * - Unsigned requests are accepted: s3rver has no anonymous-access check. A refusal test must
 *   sign with a wrong key, never just leave the signature out.
 * - x-amz-content-sha256 must be present on header-signed requests and be UNSIGNED-PAYLOAD,
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a hex hash; the body hash is never verified.
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER (what newer SDKs send for streams with flexible
 *   checksums) is refused with 400 InvalidArgument.
 * - Region and service in the credential scope are not checked (any region signs).
 * - Path-style only, in practice. It does route virtual-hosted requests (Host header
 *   `<bucket>.s3[.<region>].amazonaws.com`, or any host name that is not an IP or localhost),
 *   but it puts the bucket in the canonical URI (`/<bucket>/<key>`) where AWS signs `/<key>`, so
 *   a virtual-hosted request signed as for AWS gets SignatureDoesNotMatch.
 * - Request time must be within 15 minutes of its clock (RequestTimeTooSkewed).
 */
import { mkdtemp } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { EmulatorUnavailableError, launchEmulator } from "../../demo/cognito-emulator.js";
import { type AwsKeys, MOTO_IDENTITY_CREDENTIALS, sendSigned } from "./aws-world.js";

export interface S3rverOptions {
  /** Created at start. Default "cupbearer-files" (the moto world's bucket name). */
  bucket?: string;
  /** Key pairs it accepts. Default: moto's identity credentials only. */
  keys?: ReadonlyArray<Pick<AwsKeys, "accessKeyId" | "secretAccessKey">>;
}

export interface S3rver {
  /** `http://127.0.0.1:PORT`, path-style. */
  readonly endpoint: string;
  readonly bucket: string;
  /** The region tests should sign for (s3rver accepts any). */
  readonly region: string;
  /** Where s3rver keeps objects (deleted by stop()). */
  readonly directory: string;
  stop(): Promise<void>;
}

/**
 * The child's program. CommonJS (`node -e`); it reads its settings from the environment so the
 * test secret never shows in a process listing.
 */
const CHILD = `
const config = JSON.parse(process.env.CUPBEARER_S3RVER_CONFIG);
delete process.env.CUPBEARER_S3RVER_CONFIG;
const S3rver = require(config.main);
const AWSAccount = require(config.account);
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey("S3RVER");
const account = new AWSAccount(123456789012, "cupbearer");
for (const key of config.keys) account.createKeyPair(key.accessKeyId, key.secretAccessKey);
const server = new S3rver({
  address: "127.0.0.1",
  port: config.port,
  silent: true,
  directory: config.directory,
  configureBuckets: [{ name: config.bucket }],
});
server.run().then(
  (address) => console.log("s3rver ready on http://127.0.0.1:" + address.port),
  (err) => { console.error("s3rver failed: " + (err && err.message)); process.exit(1); },
);
`;

function s3rverModules(): { main: string; account: string } {
  const require = createRequire(import.meta.url);
  try {
    const main = require.resolve("@20minutes/s3rver");
    return { main, account: join(dirname(main), "models", "account.js") };
  } catch (err) {
    throw new EmulatorUnavailableError(`@20minutes/s3rver is not installed: ${(err as Error).message}`);
  }
}

/** The test runner's loaders and coverage hooks have no business in the child. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  return env;
}

/** Starts s3rver with one bucket and SigV4 checking on; stop() kills it and deletes its files. */
export async function startS3rver(options: S3rverOptions = {}): Promise<S3rver> {
  const modules = s3rverModules();
  const bucket = options.bucket ?? "cupbearer-files";
  const keys = (options.keys ?? [MOTO_IDENTITY_CREDENTIALS]).map(({ accessKeyId, secretAccessKey }) => ({
    accessKeyId,
    secretAccessKey,
  }));
  let directory = "";
  const emulator = await launchEmulator(
    async (port) => {
      const tempDir = await mkdtemp(join(tmpdir(), "cupbearer-s3rver-"));
      directory = tempDir;
      const config = { ...modules, port, directory: tempDir, bucket, keys };
      return {
        command: process.execPath,
        args: ["-e", CHILD],
        env: { ...childEnv(), CUPBEARER_S3RVER_CONFIG: JSON.stringify(config) },
        endpoint: `http://127.0.0.1:${port}`,
        tempDir,
        // Any HTTP answer will do: the bucket exists before s3rver listens.
        isReady: async (url, signal) => (await fetch(url, { signal })).status > 0,
      };
    },
    { name: "s3rver" },
  );
  return { endpoint: emulator.endpoint, bucket, region: "us-east-1", directory, stop: emulator.stop };
}

/**
 * A bucket of the caller's own in a running (shared) s3rver, created through its S3 API with
 * moto's identity key pair; the handle's `stop()` leaves the server running.
 */
export async function createS3rverBucket(
  server: Pick<S3rver, "endpoint" | "region" | "directory">,
  bucket: string,
): Promise<S3rver> {
  const answer = await sendSigned({
    endpoint: server.endpoint,
    method: "PUT",
    path: `/${bucket}`,
    service: "s3",
    region: server.region,
    credentials: MOTO_IDENTITY_CREDENTIALS,
  });
  if (answer.status !== 200) throw new Error(`s3rver: creating bucket ${bucket} answered ${answer.status}`);
  return { ...server, bucket, stop: async () => undefined };
}
