/**
 * Every failure of a terminal sign-in, said plainly: what went wrong and what to change. Cognito's
 * own error names (`NotAuthorizedException`, ...) and messages are read here and nowhere else;
 * the commands print `SignInError.message` and exit 1.
 */

/** A failure the user can act on; its message is printed as it is (it never holds a secret). */
export class SignInError extends Error {
  override name = "SignInError";
  /** Cognito's error name when Cognito refused, for tests and --debug; undefined for ours. */
  readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/** Which sign-in flow ran, so "flow not enabled" can name the app client setting to change. */
export type FlowName = "srp" | "password" | "user-auth" | "custom" | "refresh";

/** The ExplicitAuthFlows value each flow needs on the app client. */
export const CLIENT_SETTING: Record<FlowName, string> = {
  srp: "ALLOW_USER_SRP_AUTH",
  password: "ALLOW_USER_PASSWORD_AUTH",
  "user-auth": "ALLOW_USER_AUTH",
  custom: "ALLOW_CUSTOM_AUTH",
  refresh: "ALLOW_REFRESH_TOKEN_AUTH",
};

/** What the message should mention: the flow, and where Cognito is. */
export interface ExplainContext {
  readonly flow: FlowName;
  /** The endpoint, or a region's Cognito when undefined. */
  readonly where: string;
  /** True once a new password was sent: only then is InvalidPasswordException about the policy. */
  readonly settingPassword?: boolean;
}

const NETWORK = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "ECONNRESET",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
]);

/**
 * The SDK's (or the network's) error → a SignInError with a message for a person. An error that
 * is already a SignInError is returned as it is.
 */
export function explain(err: unknown, context: ExplainContext): SignInError {
  if (err instanceof SignInError) return err;
  const name = err instanceof Error ? err.name : "Error";
  const text = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const setting = CLIENT_SETTING[context.flow];
  const say = (message: string) => new SignInError(message, name);
  switch (name) {
    case "NotAuthorizedException":
      return say(notAuthorized(text, context));
    case "UserNotFoundException":
      // Cognito says this only when the pool reveals which users exist; say no more than it.
      return say("wrong username or password");
    case "UserNotConfirmedException":
      return say(
        "the user has not confirmed the sign-up: confirm it with the code Cognito sent (or an " +
          "administrator runs AdminConfirmSignUp), then sign in again",
      );
    case "PasswordResetRequiredException":
      return say("the password must be reset first (ForgotPassword), then sign in with the new one");
    case "CodeMismatchException":
      return say("wrong code: sign in again and type the current code");
    case "ExpiredCodeException":
      return say("the code has expired: sign in again to get a new one");
    case "InvalidPasswordException":
      // Some emulators (cognito-local) answer a wrong password at sign-in with this name.
      if (context.settingPassword !== true) return say("wrong username or password");
      return say(`the new password is not accepted by the pool's password policy: ${text}`);
    case "EnableSoftwareTokenMFAException":
      return say("the authenticator app's code was not accepted: check the device's clock and try again");
    case "TooManyRequestsException":
    case "ThrottlingException":
    case "LimitExceededException":
      return say("Cognito is throttling requests (too many too fast): wait a minute and try again");
    case "TooManyFailedAttemptsException":
      return say("too many failed attempts: wait before trying again");
    case "ResourceNotFoundException":
      return say(
        `Cognito at ${context.where} does not know this user pool or app client: check --user-pool, ` +
          "--client-id and the region (the pool id's prefix) or --endpoint",
      );
    case "InvalidUserPoolConfigurationException":
      return say(`the user pool's configuration does not allow this sign-in: ${text}`);
    case "UnsupportedOperationException":
      return say(`${setting} is not supported by this user pool (its feature plan): ${text}`);
    case "InvalidParameterException":
      return say(invalidParameter(text, setting));
    case "UserLambdaValidationException":
    case "UnexpectedLambdaException":
    case "InvalidLambdaResponseException":
      return say(`the user pool's Lambda trigger refused the sign-in: ${text}`);
  }
  if (typeof code === "string" && NETWORK.has(code)) {
    return say(
      `cannot reach Cognito at ${context.where} (${code}): check the network, --endpoint or the region`,
    );
  }
  if (name === "TimeoutError" || name === "AbortError") {
    return say(`Cognito at ${context.where} did not answer in time: try again`);
  }
  return say(`Cognito refused the sign-in (${name}): ${text}`);
}

function notAuthorized(text: string, context: ExplainContext): string {
  const lower = text.toLowerCase();
  if (lower.includes("secret hash")) {
    return "the app client has a secret: pass --client-secret (or CUPBEARER_CLIENT_SECRET), the right one for --client-id";
  }
  if (lower.includes("attempts exceeded")) return "too many failed attempts: wait before trying again";
  if (lower.includes("disabled")) return "the user is disabled in the user pool";
  if (lower.includes("session is expired") || lower.includes("invalid session")) {
    return "the sign-in took too long (Cognito's session lasts 3 minutes): run cupbearer login again";
  }
  if (context.flow === "refresh" || lower.includes("refresh token")) {
    return "the stored sign-in is no longer valid (expired or revoked): run cupbearer login again";
  }
  if (lower.includes("not enabled") || lower.includes("not supported") || lower.includes("auth flow")) {
    return flowNotEnabled(CLIENT_SETTING[context.flow]);
  }
  if (lower.includes("access token"))
    return "the stored access token is no longer valid: run cupbearer login again";
  return "wrong username or password";
}

function invalidParameter(text: string, setting: string): string {
  const lower = text.toLowerCase();
  if (lower.includes("not enabled") || lower.includes("flow") || lower.includes("not supported")) {
    return flowNotEnabled(setting);
  }
  return `Cognito refused a parameter: ${text}`;
}

function flowNotEnabled(setting: string): string {
  return (
    `this sign-in flow is not enabled on the app client: add ${setting} to its authentication ` +
    "flows (ExplicitAuthFlows), or pick another with --flow"
  );
}
