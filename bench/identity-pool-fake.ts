// A recording Cognito Identity stand-in at the protocol level (AWS JSON 1.1 on 127.0.0.1), for
// the fleet tests and `npm run fleet-sim`: driven by the real @aws-sdk/client-cognito-identity
// client the proxy uses. Like the real service, GetId gives each login (the token's `sub`) one
// identity id for good, GetCredentialsForIdentity refuses a login that is not the identity's,
// and every answer's credentials are new. It counts every call per operation.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

const REGION = "us-east-1";
const MAX_BODY_BYTES = 64 * 1024;

export interface IdentityPoolFake {
  endpoint: string;
  /** Calls per operation (the last part of X-Amz-Target) since start or reset. */
  counts(): Record<string, number>;
  /** Every secret key and session token handed out: tests look for them where they must not be. */
  readonly secrets: string[];
  /** Milliseconds each answer waits (default 0): a slow identity pool, so concurrent callers overlap. */
  delayMs: number;
  /** Credentials lifetime in seconds (default 3600). */
  lifetimeSeconds: number;
  /** When set, every call answers this error (`NotAuthorizedException`, `InternalErrorException`, …). */
  failWith: string | undefined;
  reset(): void;
  close(): Promise<void>;
}

/** The user a login names: the `sub` of a JWT, or the whole text of anything else. */
function userOf(token: string): string {
  const parts = token.split(".");
  if (parts.length === 3) {
    try {
      const payload = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8")) as {
        sub?: unknown;
      };
      if (typeof payload.sub === "string") return payload.sub;
    } catch {
      // not a JWT after all
    }
  }
  return token;
}

/** A stable identity id per user, shaped like Cognito's. */
function identityIdOf(user: string): string {
  const h = createHash("sha256").update(user).digest("hex");
  return `${REGION}:${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

type Answer = { status: number; body: Record<string, unknown> };
const error = (type: string, status = 400): Answer => ({
  status,
  body: { __type: type, message: `${type} (fake)` },
});

export function startIdentityPoolFake(): Promise<IdentityPoolFake> {
  const calls: Record<string, number> = {};
  const owners = new Map<string, string>();
  const fake = {
    delayMs: 0,
    lifetimeSeconds: 3600,
    failWith: undefined as string | undefined,
    secrets: [] as string[],
  };

  function answer(operation: string, body: Record<string, unknown>, failWith: string | undefined): Answer {
    if (failWith !== undefined) return error(failWith, failWith.startsWith("Internal") ? 500 : 400);
    const logins = body.Logins as Record<string, string> | undefined;
    const token = logins === undefined ? undefined : Object.values(logins)[0];
    const user = token === undefined ? "(guest)" : userOf(token);
    if (operation === "GetId") {
      const identityId = identityIdOf(user);
      owners.set(identityId, user);
      return { status: 200, body: { IdentityId: identityId } };
    }
    const identityId = String(body.IdentityId);
    const owner = owners.get(identityId);
    if (owner === undefined) return error("ResourceNotFoundException");
    if (owner !== user) return error("NotAuthorizedException");
    if (operation === "GetCredentialsForIdentity") {
      const secret = `fake-secret-${randomBytes(12).toString("base64url")}`;
      const session = `fake-session-${randomBytes(24).toString("base64url")}`;
      fake.secrets.push(secret, session);
      return {
        status: 200,
        body: {
          IdentityId: identityId,
          Credentials: {
            AccessKeyId: `ASIA${randomBytes(8).toString("hex").toUpperCase()}`,
            SecretKey: secret,
            SessionToken: session,
            Expiration: Math.floor(Date.now() / 1000) + fake.lifetimeSeconds,
          },
        },
      };
    }
    if (operation === "GetOpenIdToken") {
      return {
        status: 200,
        body: { IdentityId: identityId, Token: `fake-openid-${randomBytes(12).toString("hex")}` },
      };
    }
    return error("InvalidParameterException");
  }

  const server = createServer((req, res) => {
    const target = req.headers["x-amz-target"];
    const operation = (Array.isArray(target) ? target[0] : target)?.split(".").pop() ?? "(none)";
    calls[operation] = (calls[operation] ?? 0) + 1;
    // Decided when the call arrives, however long its answer takes.
    const failWith = fake.failWith;
    void readJson(req).then(
      async (body) => {
        if (fake.delayMs > 0) await new Promise((r) => setTimeout(r, fake.delayMs));
        const out =
          body === undefined ? error("InvalidParameterException") : answer(operation, body, failWith);
        res.writeHead(out.status, { "content-type": "application/x-amz-json-1.1" });
        res.end(JSON.stringify(out.body));
      },
      () => res.destroy(),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve(
        Object.assign(fake, {
          endpoint: `http://127.0.0.1:${port}`,
          counts: () => ({ ...calls }),
          reset: () => {
            for (const k of Object.keys(calls)) delete calls[k];
          },
          close: () =>
            new Promise<void>((done) => {
              server.closeAllConnections();
              server.close(() => done());
            }),
        }),
      );
    });
  });
}
