// The S3 key prefix of an AWS route as its strategy applies it: resolved for the caller of each
// request, whichever caller the credentials object signed for before.
import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import t from "tap";
import type { CredentialsProvider, TemporaryCredentials } from "../../src/aws/credentials.js";
import { createSigner } from "../../src/aws/signer.js";
import { requestHeaderFilter } from "../../src/core/headers.js";
import type { Identity } from "../../src/core/identity.js";
import { Refusal } from "../../src/errors.js";
import { AwsUpstream } from "../../src/proxy/aws-upstream.js";
import { HeldBodyBudget } from "../../src/proxy/held-body.js";
import type { AuthorizedExchange } from "../../src/proxy/upstream.js";

const IDENTITY_ID = "us-east-1:11111111-1111-4111-8111-111111111111";

// One credentials object for every caller: as when two logins are linked to one identity.
const shared: TemporaryCredentials = {
  accessKeyId: "ASIAEXAMPLE",
  secretAccessKey: "secret",
  sessionToken: "session",
  expiresAt: Date.now() + 3_600_000,
  identityId: IDENTITY_ID,
};
const provider = {
  get: () => ({ ok: true, credentials: shared }),
  getGuest: () => ({ ok: true, credentials: shared }),
} as unknown as CredentialsProvider;

function upstream(keyPrefix: string): AwsUpstream {
  return new AwsUpstream({
    service: "s3",
    origin: "http://127.0.0.1:9",
    host: "127.0.0.1:9",
    timeoutMs: 1000,
    upstreamPath: (path) => path,
    filter: requestHeaderFilter([]),
    tokenSource: undefined,
    signer: createSigner({ service: "s3", region: "us-east-1" }),
    identityPool: {
      id: "pool",
      flow: "enhanced",
      provider,
      byGroup: {},
      basicFlowDefault: undefined,
      allowGuests: true,
    },
    s3: { keyPrefix, addressing: "path" },
    dynamodb: undefined,
    maxBodyBytes: 1024,
    heldBodies: new HeldBodyBudget(1024),
    onSigned: () => {},
  });
}

function exchange(path: string, sub: string | undefined): AuthorizedExchange {
  const req = new IncomingMessage(new Socket());
  req.method = "GET";
  req.headers = {};
  req.rawHeaders = [];
  const identity: Identity | undefined =
    sub === undefined ? undefined : { issuerId: "pool", subject: sub, claims: { token_use: "id", sub } };
  return {
    req,
    method: "GET",
    requestId: "r",
    path,
    query: "",
    identity,
    token: sub === undefined ? undefined : "token",
    hasBody: false,
    continueBody: () => {},
  };
}

async function outcome(route: AwsUpstream, path: string, sub: string | undefined): Promise<string> {
  try {
    const prepared = await route.prepare(exchange(path, sub));
    return `sent ${prepared.path}`;
  } catch (err) {
    if (err instanceof Refusal) return err.reason;
    throw err;
  }
}

t.test("a per-user prefix is each caller's own, whoever used the same credentials first", async (t) => {
  const route = upstream("private/{sub}/");
  t.equal(await outcome(route, "/b/private/alice/x", "alice"), "sent /b/private/alice/x");
  t.equal(await outcome(route, "/b/private/alice/x", "bob"), "outside_prefix");
  t.equal(await outcome(route, "/b/private/bob/x", "bob"), "sent /b/private/bob/x");
  t.equal(await outcome(route, "/b/private/bob/x", "alice"), "outside_prefix");
  t.equal(await outcome(route, "/b/private/alice/y", "alice"), "sent /b/private/alice/y");
});

t.test("an identity-id prefix and a fixed one", async (t) => {
  // The key goes upstream as SDKs encode it: the id's ":" as %3A.
  const encoded = `/b/id/${encodeURIComponent(IDENTITY_ID)}/x`;
  t.equal(await outcome(upstream("id/{identityId}/"), `/b/id/${IDENTITY_ID}/x`, "alice"), `sent ${encoded}`);
  t.equal(await outcome(upstream("id/{identityId}/"), "/b/id/other/x", "alice"), "outside_prefix");
  const fixed = upstream("shared/");
  t.equal(await outcome(fixed, "/b/shared/x", undefined), "sent /b/shared/x");
  t.equal(await outcome(fixed, "/b/other/x", undefined), "outside_prefix");
  t.equal(await outcome(upstream("private/{sub}/"), "/b/private//x", undefined), "outside_prefix");
});

t.test("a sub that cannot name a folder is refused, and is not remembered as anyone's prefix", async (t) => {
  const route = upstream("private/{sub}/");
  t.equal(await outcome(route, "/b/private/x", ".."), "outside_prefix");
  t.equal(await outcome(route, "/b/private/alice/x", "alice"), "sent /b/private/alice/x");
  t.equal(await outcome(route, "/b/private/alice/x", ".."), "outside_prefix");
});
