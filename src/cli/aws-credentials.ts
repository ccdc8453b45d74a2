/**
 * `cupbearer aws-credentials --identity-pool ID`: exchanges the stored (and, if needed, refreshed)
 * ID token at an identity pool, through the very provider the proxy's AWS routes use, and prints
 * the AWS CLI's credential_process JSON.
 * https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-sourcing-external.html
 */
import { standaloneProvider } from "../aws/pools.js";
import { jwtClaims } from "../signin/flow.js";
import { SignInError } from "../signin/messages.js";
import { freshSession } from "../signin/session.js";
import type { CliIo } from "./main.js";
import {
  PICK_OPTIONS,
  PICK_USAGE,
  parseCommand,
  queryOf,
  reported,
  storeOf,
  usageProblem,
} from "./signin-common.js";

export const AWS_CREDENTIALS_USAGE = `Usage: cupbearer aws-credentials --identity-pool ID [--role ARN] [--user U]
  Prints AWS credentials for a stored sign-in as credential_process JSON, e.g. in ~/.aws/config:
    credential_process = cupbearer aws-credentials --identity-pool eu-west-1:0123abcd-...
      --identity-pool ID            the identity pool (its region is the id's prefix)
      --role ARN                    a role the pool's rules allow, instead of its default
      --endpoint URL                Cognito Identity's endpoint (an emulator)
${PICK_USAGE}`;

const OPTIONS = {
  ...PICK_OPTIONS,
  "identity-pool": { type: "string" },
  role: { type: "string" },
  endpoint: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The ID token's issuer; the Logins key is made from it, as the proxy does. */
function issuerOf(idToken: string): string {
  const iss = jwtClaims(idToken)?.iss;
  if (typeof iss !== "string" || !/^https?:\/\//.test(iss)) {
    throw new SignInError("the stored ID token names no issuer: run cupbearer login again");
  }
  return iss;
}

export async function awsCredentials(argv: readonly string[], io: CliIo): Promise<number> {
  const values = parseCommand(io, argv, OPTIONS, AWS_CREDENTIALS_USAGE);
  if (typeof values === "number") return values;
  const identityPoolId = values["identity-pool"];
  const region = identityPoolId?.split(":")[0];
  if (!identityPoolId || !region || !/^[a-z0-9-]+:[0-9a-f-]+$/.test(identityPoolId)) {
    return usageProblem(
      io,
      "--identity-pool: expected an identity pool id like eu-west-1:0123abcd-...",
      AWS_CREDENTIALS_USAGE,
    );
  }
  return reported(io, "aws-credentials", async () => {
    const store = storeOf(io);
    const { session } = await freshSession(store, store.find(queryOf(values)));
    const issuer = issuerOf(session.idToken);
    const sub = jwtClaims(session.idToken)?.sub;
    const { provider, close } = standaloneProvider({ identityPoolId, region, endpoint: values.endpoint });
    try {
      const result = await provider.get({
        issuer,
        sub: typeof sub === "string" ? sub : session.username,
        idToken: session.idToken,
        ...(values.role !== undefined && { roleArn: values.role }),
      });
      if (!result.ok) {
        const { kind, message } = result.error;
        const what =
          kind === "invalid_token"
            ? "the identity pool refused the ID token (is this user pool and app client one of its providers?)"
            : kind === "throttled"
              ? "Cognito Identity is throttling requests: try again in a moment"
              : "the identity pool could not give credentials";
        throw new SignInError(`${what}: ${message}`);
      }
      const c = result.credentials;
      const out = {
        Version: 1,
        AccessKeyId: c.accessKeyId,
        SecretAccessKey: c.secretAccessKey,
        SessionToken: c.sessionToken,
        Expiration: new Date(c.expiresAt).toISOString(),
      };
      io.stdout.write(`${JSON.stringify(out)}\n`);
      return 0;
    } finally {
      close();
    }
  });
}
