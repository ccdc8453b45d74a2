/**
 * S3 through cupbearer against @20minutes/s3rver, which checks SigV4 and stores what it gets:
 * real ID tokens from cognito-local, credentials from moto's identity pool, and cupbearer as its
 * own process, so its memory can be watched while uploads of 50 and 256 MiB stream through.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { seedPool } from "../../demo/cognito-emulator.js";
import { waitReady } from "../support/app.js";
import { sendSigned } from "../support/aws-world.js";
import { spawnCli } from "../support/cli.js";
import { decodeJwt, freePort } from "../support/emulators.js";
import { sharedCognitoLocal, sharedMotoWorld, sharedS3rver } from "../support/shared.js";

t.setTimeout(180_000);

const PASSWORD = "Passw0rd!";
const UPLOAD_BYTES = 50 * 1024 * 1024;
const FLAT_BYTES = 256 * 1024 * 1024;
const CHUNK = 64 * 1024;

// The run's shared emulators; the world and the bucket are this file's own.
const [cognito, world, s3] = await Promise.all([sharedCognitoLocal(t), sharedMotoWorld(t), sharedS3rver(t)]);

/** Peak and current resident memory of a process, from /proc (Linux), in bytes. */
function memoryOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) * 1024;
  return { peak: kb("VmHWM"), now: kb("VmRSS") };
}

/** A PUT whose body is generated as it is sent: nothing of it is ever held whole. */
function streamedPut(url: string, headers: Record<string, string>, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "PUT", headers: { ...headers, "content-length": String(bytes) } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    let sent = 0;
    const chunk = Buffer.alloc(CHUNK);
    const pump = () => {
      while (sent < bytes) {
        chunk.fill(sent / CHUNK);
        const part = chunk.subarray(0, Math.min(CHUNK, bytes - sent));
        sent += part.length;
        if (!req.write(part)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

function expectedDigest(bytes: number): string {
  const hash = createHash("sha256");
  const chunk = Buffer.alloc(CHUNK);
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    chunk.fill(sent / CHUNK);
    hash.update(chunk.subarray(0, Math.min(CHUNK, bytes - sent)));
  }
  return hash.digest("hex");
}

t.test("S3 through cupbearer into s3rver", async (t) => {
  if (cognito === undefined || world === undefined || s3 === undefined) {
    return t.pass("emulators not running", { skip: "see the SKIPPED banner" });
  }
  const pool = await seedPool(cognito.endpoint, {
    poolName: "cupbearer-s3rver",
    users: [{ username: "alice", password: PASSWORD }],
  });
  const { idToken } = await pool.signIn("alice", PASSWORD);
  const sub = String(decodeJwt(idToken).payload.sub);
  const [port, adminPort] = await Promise.all([freePort(), freePort()]);
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-s3rver-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "config.yaml");
  await writeFile(
    file,
    `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
log: { level: warn }
issuers:
  - { id: local, issuer: "${pool.issuer}", jwksUri: "${pool.jwksUri}", clientIds: ["${pool.clientId}"] }
identityPools:
  - { id: main, identityPoolId: "${world.identityPoolId}", region: us-east-1, endpoint: "${world.endpoint}" }
routes:
  - id: files
    match: { pathPrefix: /files }
    stripPrefix: true
    upstream:
      url: "${s3.endpoint}/${s3.bucket}"
      aws: { service: s3, region: us-east-1, identityPool: main }
      s3: { keyPrefix: "private/{sub}/" }
    auth: { tokenUse: id }
`,
  );
  const cli = spawnCli(t, ["--config", file]);
  await waitReady(`http://127.0.0.1:${adminPort}`);
  const pid = cli.child.pid as number;
  const base = `http://127.0.0.1:${port}/files`;
  const bearer = { authorization: `Bearer ${idToken}` };
  const keyUrl = (key: string) => `${base}/${key.split("/").map(encodeURIComponent).join("/")}`;

  await t.test("keys with spaces and unicode: PUT, GET, HEAD, list, DELETE", async (t) => {
    const key = `private/${sub}/Grüße ✓/naïve file.txt`;
    const put = await fetch(keyUrl(key), { method: "PUT", headers: bearer, body: "unicode body ✓" });
    t.equal(put.status, 200, await put.text());
    const get = await fetch(keyUrl(key), { headers: bearer });
    t.equal(await get.text(), "unicode body ✓");
    const head = await fetch(keyUrl(key), { method: "HEAD", headers: bearer });
    t.equal(head.status, 200);
    const list = await fetch(`${base}?list-type=2&prefix=${encodeURIComponent(`private/${sub}/`)}`, {
      headers: bearer,
    });
    t.equal(list.status, 200);
    t.match(await list.text(), `<Key>${key}</Key>`);
    const listOthers = await fetch(`${base}?list-type=2&prefix=private/`, { headers: bearer });
    t.equal(listOthers.status, 403, "a prefix wider than the caller's is refused");
    t.equal((await fetch(keyUrl(key), { method: "DELETE", headers: bearer })).status, 204);
    t.equal((await fetch(keyUrl(key), { headers: bearer })).status, 404);
  });

  await t.test("uploads stream through: 50 MiB stored exactly, memory flat under 256 MiB", async (t) => {
    const key = `private/${sub}/big.bin`;
    t.equal(await streamedPut(keyUrl(key), bearer, UPLOAD_BYTES), 200);
    const res = await fetch(keyUrl(key), { headers: bearer });
    t.equal(res.status, 200);
    const hash = createHash("sha256");
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) hash.update(chunk);
    t.equal(hash.digest("hex"), expectedDigest(UPLOAD_BYTES), "s3rver stored exactly the bytes sent");

    // A proxy holding a body grows by at least the body. A streaming one grows by the chunks
    // V8 has not collected yet, which it lets reach tens of MiB (more on Node 24 than on 20):
    // so the body must be much larger than that for the two to be told apart.
    const before = memoryOf(pid);
    t.equal(await streamedPut(keyUrl(`private/${sub}/bigger.bin`), bearer, FLAT_BYTES), 200);
    const grew = memoryOf(pid).peak - Math.max(before.peak, before.now);
    t.ok(grew < FLAT_BYTES / 2, `peak memory grew by ${(grew / 1048576).toFixed(1)} MiB for a 256 MiB body`);
  });

  await t.test("s3rver's check is real: a wrong secret is refused", async (t) => {
    const answer = await sendSigned({
      endpoint: s3.endpoint,
      method: "GET",
      path: `/${s3.bucket}/private/${sub}/big.bin`,
      service: "s3",
      credentials: { ...world.credentials, secretAccessKey: "wrong-secret" },
      headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    });
    t.equal(answer.status, 403);
    t.match(answer.body, /SignatureDoesNotMatch/);
  });
});
