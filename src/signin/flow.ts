/**
 * The sign-in engine: InitiateAuth, then one RespondToAuthChallenge per challenge Cognito sends,
 * until it answers with tokens. Each challenge has its own handler and its own prompt.
 * https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-authentication-flow-methods.html
 * https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_RespondToAuthChallenge.html
 *
 * The client is passed in (the real SDK client, pointed at Cognito, an emulator or a test's fake).
 */
import {
  AssociateSoftwareTokenCommand,
  type AuthenticationResultType,
  type ChallengeNameType,
  type CognitoIdentityProviderClient,
  ConfirmDeviceCommand,
  InitiateAuthCommand,
  RespondToAuthChallengeCommand,
  UpdateDeviceStatusCommand,
  VerifySoftwareTokenCommand,
} from "@aws-sdk/client-cognito-identity-provider";
import { explain, type FlowName, SignInError } from "./messages.js";
import type { Prompter } from "./prompter.js";
import { otpauthUri, qrText } from "./qr.js";
import {
  claimSignature,
  clientKey,
  deviceSecret,
  poolNameOf,
  type SrpClientKeys,
  secretHash,
  srpClientKeys,
  srpTimestamp,
} from "./srp.js";
import type { RememberedDevice } from "./store.js";

/** The flows `cupbearer login --flow` offers. */
export type LoginFlow = Exclude<FlowName, "refresh">;

export const LOGIN_FLOWS: readonly LoginFlow[] = ["srp", "password", "user-auth", "custom"];

const AUTH_FLOW: Record<LoginFlow, "USER_SRP_AUTH" | "USER_PASSWORD_AUTH" | "USER_AUTH" | "CUSTOM_AUTH"> = {
  srp: "USER_SRP_AUTH",
  password: "USER_PASSWORD_AUTH",
  "user-auth": "USER_AUTH",
  custom: "CUSTOM_AUTH",
};

export interface SignInProps {
  readonly client: CognitoIdentityProviderClient;
  readonly userPoolId: string;
  readonly clientId: string;
  readonly clientSecret?: string | undefined;
  readonly username: string;
  readonly flow: LoginFlow;
  readonly prompter: Prompter;
  /** A device remembered at an earlier sign-in: Cognito may then skip MFA (DEVICE_SRP_AUTH). */
  readonly device?: RememberedDevice | undefined;
  /** For TIMESTAMP; `() => new Date()` by default. */
  readonly now?: () => Date;
  /** Where Cognito is, for messages. */
  readonly where: string;
  /** A bound on challenge rounds (default 20): a pool's custom challenges cannot loop forever. */
  readonly maxRounds?: number;
}

/** What a completed sign-in gives. */
export interface SignInResult {
  readonly idToken: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** The username the pool knows the user by (after aliases), for SECRET_HASH and the store. */
  readonly username: string;
  /** The device to remember from now on: the given one, or one confirmed at this sign-in. */
  readonly device: RememberedDevice | undefined;
}

/** The state a sign-in carries from round to round. */
interface Round {
  username: string;
  /** USER_ID_FOR_SRP: the id SRP's math uses (the pool's internal name of the user). */
  srpUserId: string;
  srp: SrpClientKeys | undefined;
  deviceSrp: SrpClientKeys | undefined;
  password: string | undefined;
}

type Responses = Record<string, string>;

/** What a handler returns: the challenge's answer, and the session to send it with. */
interface Answer {
  readonly responses: Responses;
  readonly session?: string | undefined;
  /** The challenge name to answer with, when it is not the challenge's own (SELECT_CHALLENGE). */
  readonly as?: string;
}

/**
 * Signs a user in, answering every challenge, and confirms the device when Cognito asks to
 * remember it. Every failure is a SignInError with a message for a person.
 */
export async function signIn(props: SignInProps): Promise<SignInResult> {
  const engine = new Engine(props);
  try {
    return await engine.run();
  } catch (err) {
    throw explain(err, { flow: props.flow, where: props.where, settingPassword: engine.settingPassword });
  }
}

class Engine {
  /** Set once a new password is sent (NEW_PASSWORD_REQUIRED), for the failure's message. */
  settingPassword = false;
  readonly #p: SignInProps;
  readonly #round: Round;
  readonly #now: () => Date;

  constructor(props: SignInProps) {
    this.#p = props;
    this.#now = props.now ?? (() => new Date());
    this.#round = {
      username: props.username,
      srpUserId: props.username,
      srp: undefined,
      deviceSrp: undefined,
      password: undefined,
    };
  }

  /** SECRET_HASH for the current username, when the client has a secret. */
  #hash(): Responses {
    const { clientSecret, clientId } = this.#p;
    return clientSecret === undefined
      ? {}
      : { SECRET_HASH: secretHash(clientSecret, this.#round.username, clientId) };
  }

  async #password(): Promise<string> {
    this.#round.password ??= await this.#p.prompter.ask({
      kind: "password",
      label: "Password",
      secret: true,
    });
    return this.#round.password;
  }

  async run(): Promise<SignInResult> {
    const { client, clientId, flow, device } = this.#p;
    const params: Responses = { USERNAME: this.#round.username, ...this.#hash() };
    if (device !== undefined) params.DEVICE_KEY = device.key;
    if (flow === "srp") {
      this.#round.srp = srpClientKeys();
      params.SRP_A = this.#round.srp.srpA;
    } else if (flow === "password") {
      params.PASSWORD = await this.#password();
    }
    let out = await client.send(
      new InitiateAuthCommand({ AuthFlow: AUTH_FLOW[flow], ClientId: clientId, AuthParameters: params }),
    );
    const maxRounds = this.#p.maxRounds ?? 20;
    for (let round = 0; ; round++) {
      if (out.AuthenticationResult !== undefined) return this.#finish(out.AuthenticationResult);
      const name = out.ChallengeName;
      if (name === undefined) throw new SignInError("Cognito answered with neither tokens nor a challenge");
      if (round >= maxRounds) {
        throw new SignInError(
          `Cognito asked more than ${maxRounds} challenges: the pool's custom challenges never end`,
        );
      }
      const parameters = out.ChallengeParameters ?? {};
      if (parameters.USERNAME) this.#round.username = parameters.USERNAME;
      if (parameters.USER_ID_FOR_SRP) this.#round.srpUserId = parameters.USER_ID_FOR_SRP;
      const answer = await this.#answer(name, parameters, out.Session, out.AvailableChallenges ?? []);
      out = await client.send(
        new RespondToAuthChallengeCommand({
          ClientId: clientId,
          ChallengeName: (answer.as ?? name) as ChallengeNameType,
          ChallengeResponses: { USERNAME: this.#round.username, ...answer.responses, ...this.#hash() },
          Session: answer.session ?? out.Session,
        }),
      );
    }
  }

  /** The answer to one challenge. */
  async #answer(
    name: string,
    parameters: Record<string, string>,
    session: string | undefined,
    available: readonly string[],
  ): Promise<Answer> {
    const { prompter } = this.#p;
    const code = (label: string) => prompter.ask({ kind: "code", label, secret: true });
    switch (name) {
      case "PASSWORD_VERIFIER":
        return { responses: await this.#passwordVerifier(parameters) };
      case "DEVICE_SRP_AUTH":
        return { responses: this.#deviceSrp() };
      case "DEVICE_PASSWORD_VERIFIER":
        return { responses: this.#devicePasswordVerifier(parameters) };
      case "NEW_PASSWORD_REQUIRED":
        return { responses: await this.#newPassword(parameters) };
      case "SMS_MFA":
        return { responses: { SMS_MFA_CODE: await code(`Code sent by SMS${to(parameters)}`) } };
      case "SMS_OTP":
        return { responses: { SMS_OTP_CODE: await code(`Code sent by SMS${to(parameters)}`) } };
      case "EMAIL_OTP":
        return { responses: { EMAIL_OTP_CODE: await code(`Code sent by email${to(parameters)}`) } };
      case "SOFTWARE_TOKEN_MFA":
        return { responses: { SOFTWARE_TOKEN_MFA_CODE: await code("Code from your authenticator app") } };
      case "SELECT_MFA_TYPE": {
        const choices = listParameter(parameters.MFAS_CAN_CHOOSE);
        return { responses: { ANSWER: await this.#choose("Second factor", choices) } };
      }
      case "SELECT_CHALLENGE":
        return this.#selectChallenge(available);
      case "PASSWORD":
        return { responses: { PASSWORD: await this.#password() } };
      case "PASSWORD_SRP":
        this.#round.srp = srpClientKeys();
        return { responses: { SRP_A: this.#round.srp.srpA } };
      case "MFA_SETUP":
        return this.#mfaSetup(parameters, session);
      case "CUSTOM_CHALLENGE":
        return { responses: { ANSWER: await this.#custom(parameters) } };
      case "WEB_AUTHN":
        throw new SignInError(
          "the pool asks for a passkey (WEB_AUTHN), which a terminal cannot provide: pick another " +
            "sign-in method, or sign in through the browser",
        );
      default:
        throw new SignInError(`Cognito sent a challenge this version does not know: ${name}`);
    }
  }

  async #choose(label: string, choices: readonly string[]): Promise<string> {
    if (choices.length === 0) throw new SignInError(`Cognito offered nothing to choose for: ${label}`);
    if (choices.length === 1) return choices[0] as string;
    const answer = (await this.#p.prompter.ask({ kind: "choice", label, secret: false, choices })).trim();
    // A number picks by position, a name by name.
    const byIndex = /^\d+$/.test(answer) ? choices[Number(answer) - 1] : undefined;
    const chosen = byIndex ?? choices.find((c) => c.toLowerCase() === answer.toLowerCase());
    if (chosen === undefined) throw new SignInError(`"${answer}" is not one of: ${choices.join(", ")}`);
    return chosen;
  }

  async #passwordVerifier(parameters: Record<string, string>): Promise<Responses> {
    const srp = this.#round.srp;
    if (srp === undefined)
      throw new SignInError("Cognito asked for an SRP proof of a sign-in that sent no SRP_A");
    const { SRP_B: srpB, SALT: salt, SECRET_BLOCK: secretBlock } = parameters;
    if (!srpB || !salt || !secretBlock)
      throw new SignInError("Cognito's PASSWORD_VERIFIER challenge lacks SRP_B, SALT or SECRET_BLOCK");
    const poolName = poolNameOf(this.#p.userPoolId);
    const key = clientKey(
      srp,
      { srpB, salt },
      { poolName, userId: this.#round.srpUserId, password: await this.#password() },
    );
    const timestamp = srpTimestamp(this.#now());
    const responses: Responses = {
      PASSWORD_CLAIM_SECRET_BLOCK: secretBlock,
      TIMESTAMP: timestamp,
      PASSWORD_CLAIM_SIGNATURE: claimSignature(key, {
        poolName,
        userId: this.#round.srpUserId,
        secretBlock,
        timestamp,
      }),
    };
    if (this.#p.device !== undefined) responses.DEVICE_KEY = this.#p.device.key;
    return responses;
  }

  #device(): RememberedDevice {
    const device = this.#p.device;
    if (device === undefined)
      throw new SignInError("Cognito asked for a remembered device this machine does not have");
    return device;
  }

  #deviceSrp(): Responses {
    const device = this.#device();
    this.#round.deviceSrp = srpClientKeys();
    return { DEVICE_KEY: device.key, SRP_A: this.#round.deviceSrp.srpA };
  }

  #devicePasswordVerifier(parameters: Record<string, string>): Responses {
    const device = this.#device();
    const srp = this.#round.deviceSrp;
    if (srp === undefined) throw new SignInError("Cognito asked for a device proof before device SRP began");
    const { SRP_B: srpB, SALT: salt, SECRET_BLOCK: secretBlock } = parameters;
    if (!srpB || !salt || !secretBlock)
      throw new SignInError("Cognito's DEVICE_PASSWORD_VERIFIER challenge lacks SRP_B, SALT or SECRET_BLOCK");
    const who = { poolName: device.groupKey, userId: device.key };
    const key = clientKey(srp, { srpB, salt }, { ...who, password: device.password });
    const timestamp = srpTimestamp(this.#now());
    return {
      DEVICE_KEY: device.key,
      PASSWORD_CLAIM_SECRET_BLOCK: secretBlock,
      TIMESTAMP: timestamp,
      PASSWORD_CLAIM_SIGNATURE: claimSignature(key, { ...who, secretBlock, timestamp }),
    };
  }

  async #newPassword(parameters: Record<string, string>): Promise<Responses> {
    const { prompter } = this.#p;
    prompter.say("The pool requires a new password for this user.");
    const first = await prompter.ask({ kind: "new-password", label: "New password", secret: true });
    const again = await prompter.ask({ kind: "new-password", label: "New password, again", secret: true });
    if (first !== again) throw new SignInError("the two new passwords differ: sign in again");
    const responses: Responses = { NEW_PASSWORD: first };
    // requiredAttributes: ["userAttributes.name", ...], attributes the user must set now.
    for (const attribute of listParameter(parameters.requiredAttributes)) {
      const name = attribute.replace(/^userAttributes\./, "");
      const value = await prompter.ask({
        kind: "attribute",
        label: `Required attribute ${name}`,
        secret: false,
      });
      responses[`userAttributes.${name}`] = value;
    }
    this.#round.password = first;
    this.settingPassword = true;
    return responses;
  }

  async #selectChallenge(available: readonly string[]): Promise<Answer> {
    // A terminal cannot do passkeys; offer it only if it is all there is (then say why not).
    const usable = available.filter((c) => c !== "WEB_AUTHN");
    const choices = usable.length > 0 ? usable : [...available];
    const chosen = await this.#choose("Sign in with", choices);
    const responses: Responses = { ANSWER: chosen };
    if (chosen === "PASSWORD") responses.PASSWORD = await this.#password();
    else if (chosen === "PASSWORD_SRP") {
      this.#round.srp = srpClientKeys();
      responses.SRP_A = this.#round.srp.srpA;
    } else if (chosen === "WEB_AUTHN") return this.#answer("WEB_AUTHN", {}, undefined, []);
    return { responses, as: "SELECT_CHALLENGE" };
  }

  /** MFA_SETUP: associate a TOTP app (the otpauth URI and a QR code), verify its first code. */
  async #mfaSetup(parameters: Record<string, string>, session: string | undefined): Promise<Answer> {
    const { client, prompter } = this.#p;
    const can = listParameter(parameters.MFAS_CAN_SETUP);
    if (can.length > 0 && !can.includes("SOFTWARE_TOKEN_MFA")) {
      throw new SignInError(
        `the pool requires setting up MFA by ${can.join(" or ")}, which cupbearer cannot do from a ` +
          "terminal: set it up once through the pool's hosted UI, then sign in again",
      );
    }
    const associated = await client.send(new AssociateSoftwareTokenCommand({ Session: session }));
    if (!associated.SecretCode) throw new SignInError("Cognito gave no secret for the authenticator app");
    const uri = otpauthUri(associated.SecretCode, this.#round.username, this.#p.userPoolId);
    prompter.say(
      "The pool requires an authenticator app. Add this account to it (scan the code, or enter the URI):\n" +
        `${qrText(uri)}\n${uri}\n`,
    );
    const userCode = await prompter.ask({
      kind: "code",
      label: "Code from your authenticator app",
      secret: true,
    });
    const verified = await client.send(
      new VerifySoftwareTokenCommand({
        Session: associated.Session ?? session,
        UserCode: userCode,
        FriendlyDeviceName: "cupbearer",
      }),
    );
    if (verified.Status !== "SUCCESS") throw new SignInError("the authenticator app's code was not accepted");
    return { responses: {}, session: verified.Session ?? associated.Session ?? session };
  }

  async #custom(parameters: Record<string, string>): Promise<string> {
    const { prompter } = this.#p;
    // The pool's Lambda decides what its parameters mean; show them (not USERNAME, which we sent).
    const shown = Object.entries(parameters).filter(([name]) => name !== "USERNAME");
    const question = parameters.question ?? parameters.QUESTION;
    for (const [name, value] of shown) if (value !== question) prompter.say(`${name}: ${value}`);
    return prompter.ask({
      kind: "answer",
      label: question ?? "Answer to the pool's challenge",
      secret: true,
    });
  }

  async #finish(result: AuthenticationResultType): Promise<SignInResult> {
    const { IdToken: idToken, AccessToken: accessToken, RefreshToken: refreshToken } = result;
    if (!idToken || !accessToken || !refreshToken) {
      throw new SignInError("Cognito's answer lacks the ID, access or refresh token");
    }
    const username = usernameOf(accessToken) ?? this.#round.username;
    let device = this.#p.device;
    const metadata = result.NewDeviceMetadata;
    if (metadata?.DeviceKey && metadata.DeviceGroupKey) {
      try {
        device = await this.#confirmDevice(accessToken, metadata.DeviceKey, metadata.DeviceGroupKey);
      } catch (err) {
        // The sign-in itself succeeded: keep its tokens, and say why the device is not remembered.
        const why = explain(err, { flow: this.#p.flow, where: this.#p.where }).message;
        this.#p.prompter.say(
          `Signed in, but this device could not be remembered (${why}); MFA will be asked again next time.`,
        );
        device = undefined;
      }
    }
    return { idToken, accessToken, refreshToken, username, device };
  }

  /** ConfirmDevice with a fresh device password's verifier; remembered at once if the pool lets the user choose. */
  async #confirmDevice(accessToken: string, key: string, groupKey: string): Promise<RememberedDevice> {
    const secret = deviceSecret(groupKey, key);
    const confirmed = await this.#p.client.send(
      new ConfirmDeviceCommand({
        AccessToken: accessToken,
        DeviceKey: key,
        DeviceName: "cupbearer",
        DeviceSecretVerifierConfig: { PasswordVerifier: secret.verifier, Salt: secret.salt },
      }),
    );
    if (confirmed.UserConfirmationNecessary) {
      await this.#p.client.send(
        new UpdateDeviceStatusCommand({
          AccessToken: accessToken,
          DeviceKey: key,
          DeviceRememberedStatus: "remembered",
        }),
      );
    }
    return { key, groupKey, password: secret.password };
  }
}

/** " to a***@e***" when Cognito says where it sent a code. */
function to(parameters: Record<string, string>): string {
  const where = parameters.CODE_DELIVERY_DESTINATION;
  return where ? ` to ${where}` : "";
}

/** A challenge parameter holding a JSON list (MFAS_CAN_CHOOSE, requiredAttributes...); [] when absent. */
export function listParameter(value: unknown): string[] {
  // Some servers send the list itself rather than its JSON text.
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== "string" || value === "") return [];
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.map(String) : [String(parsed)];
  } catch {
    return [value];
  }
}

/** The `username` claim of an access token (not verified: it came straight from Cognito). */
export function usernameOf(accessToken: string): string | undefined {
  const claims = jwtClaims(accessToken);
  const name = claims?.username ?? claims?.["cognito:username"];
  return typeof name === "string" && name !== "" ? name : undefined;
}

/** A JWT's payload, decoded without verifying (for its expiry and names), or undefined. */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const part = token.split(".")[1];
  if (part === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
