/**
 * A protocol-level Cognito user pool for what the emulators lack: it speaks the service's JSON 1.1
 * protocol over real HTTP on 127.0.0.1, so the real SDK client drives it, and it computes SRP's
 * server side from a stored verifier (as Cognito does: it never sees the password) and checks the
 * password claim — moto only checks the claim's shape. Custom challenges over several rounds,
 * SELECT_CHALLENGE (USER_AUTH), remembered devices (ConfirmDevice, then DEVICE_SRP_AUTH), TOTP
 * set-up, refresh (counted), revocation, throttling and injected errors.
 *
 * The server side of SRP-6a: v = g^x, B = k·v + g^b, u = H(A, B), S = (A·v^u)^b; the client proves
 * it derived the same key by signing the secret block and the timestamp with it.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  claimSignature,
  derivedKey,
  g,
  k,
  modPow,
  N,
  passwordHashX,
  poolNameOf,
  scramble,
  secretHash,
} from "../../src/signin/srp.js";
import { totp } from "./totp.js";

export interface FakeUser {
  username: string;
  password: string;
  /** Cognito's internal id, what SRP's math uses (USER_ID_FOR_SRP); differs from the username. */
  readonly id: string;
  status: "CONFIRMED" | "FORCE_CHANGE_PASSWORD" | "UNCONFIRMED";
  /** The second factor after the password, if any. */
  mfa?: "SOFTWARE_TOKEN_MFA" | "SMS_MFA" | "CHOOSE" | "SETUP" | "SETUP_SMS_ONLY" | "PASSKEY" | "FUTURE";
  totpSecret?: string;
  /** Custom challenges (CUSTOM_AUTH): question → answer, one round each. */
  custom?: Array<{ question: string; answer: string }>;
  /** Attributes NEW_PASSWORD_REQUIRED asks for. */
  requiredAttributes?: string[];
  attributes: Record<string, string>;
  /** SRP: salt (hex) and verifier, kept instead of the password. */
  salt: string;
  verifier: bigint;
}

interface Device {
  readonly key: string;
  readonly groupKey: string;
  readonly username: string;
  salt?: string;
  verifier?: bigint;
  remembered: boolean;
}

interface Session {
  username: string;
  step: string;
  a?: bigint;
  b?: bigint;
  B?: bigint;
  secretBlock?: string;
  round?: number;
  deviceKey?: string;
}

export interface FakeCognitoOptions {
  readonly userPoolId?: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** Lifetime of issued ID and access tokens (default 3600 s). */
  readonly tokenSeconds?: number;
  /** Answer every sign-in with NewDeviceMetadata (device tracking on). */
  readonly trackDevices?: boolean;
  /** Which flows the client allows (default all). */
  readonly flows?: readonly string[];
}

const SMS_CODE = "314159";
const EMAIL_CODE = "271828";

export class FakeCognito {
  readonly userPoolId: string;
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly users = new Map<string, FakeUser>();
  readonly devices = new Map<string, Device>();
  readonly calls: string[] = [];
  /** Counts REFRESH_TOKEN_AUTH sign-ins. */
  refreshes = 0;
  /** How a refresh answers: normally; with a new refresh token (rotation); or without tokens. */
  refreshMode: "normal" | "rotate" | "empty" = "normal";
  /** The DEVICE_KEY of the last refresh, if any. */
  lastRefreshDevice: string | undefined;
  /** The next `throttle` requests answer TooManyRequestsException. */
  throttle = 0;
  /** The next call of an operation answers an error (one-shot, by operation name). */
  failOn: Record<string, { name: string; message: string }> = {};
  /** The next request answers this error. */
  failNext: { name: string; message: string } | undefined;
  tokenSeconds: number;
  readonly #sessions = new Map<string, Session>();
  readonly #refreshTokens = new Map<string, string>();
  readonly revoked = new Set<string>();
  readonly #options: FakeCognitoOptions;
  #server: Server | undefined;
  endpoint = "";
  readonly emailCode = EMAIL_CODE;
  readonly smsCode = SMS_CODE;

  constructor(options: FakeCognitoOptions = {}) {
    this.#options = options;
    this.userPoolId = options.userPoolId ?? "us-east-1_FakePool1";
    this.clientId = options.clientId ?? "fakeclient123";
    this.clientSecret = options.clientSecret;
    this.tokenSeconds = options.tokenSeconds ?? 3600;
  }

  /** Adds a user; the password is turned into a salt and verifier at once, as Cognito stores it. */
  addUser(user: Partial<FakeUser> & { username: string; password: string }): FakeUser {
    const id = randomUUID();
    const salt = randomBytes(16).toString("hex");
    const full: FakeUser = {
      status: "CONFIRMED",
      attributes: {},
      ...user,
      id,
      salt,
      verifier: modPow(g, passwordHashX(poolNameOf(this.userPoolId), id, user.password, salt), N),
    };
    this.users.set(user.username, full);
    return full;
  }

  #setPassword(user: FakeUser, password: string): void {
    user.password = password;
    user.salt = randomBytes(16).toString("hex");
    user.verifier = modPow(g, passwordHashX(poolNameOf(this.userPoolId), user.id, password, user.salt), N);
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      void this.#handle(req).then(
        ({ status, body }) => {
          res.writeHead(status, {
            "content-type": "application/x-amz-json-1.1",
            ...(status !== 200 && { "x-amzn-errortype": (body as { __type: string }).__type }),
          });
          res.end(JSON.stringify(body));
        },
        (err: Error) => {
          res.writeHead(500, { "content-type": "application/x-amz-json-1.1" });
          res.end(JSON.stringify({ __type: "InternalErrorException", message: err.message }));
        },
      );
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, "127.0.0.1", resolve));
    this.endpoint = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }

  async #handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    let text = "";
    for await (const chunk of req) text += chunk;
    const target = String(req.headers["x-amz-target"] ?? "").split(".")[1] ?? "";
    this.calls.push(target);
    if (this.throttle > 0) {
      this.throttle--;
      return fail("TooManyRequestsException", "Rate exceeded");
    }
    const failure = this.failOn[target];
    if (failure !== undefined) {
      delete this.failOn[target];
      return fail(failure.name, failure.message);
    }
    if (this.failNext !== undefined) {
      const { name, message } = this.failNext;
      this.failNext = undefined;
      return fail(name, message);
    }
    const input = JSON.parse(text || "{}") as Record<string, unknown>;
    try {
      const body = this.#operation(target, input);
      return { status: 200, body };
    } catch (err) {
      if (err instanceof FakeError) return fail(err.name, err.message);
      throw err;
    }
  }

  #operation(target: string, input: Record<string, unknown>): unknown {
    switch (target) {
      case "InitiateAuth":
        return this.#initiate(input);
      case "RespondToAuthChallenge":
        return this.#respond(input);
      case "AssociateSoftwareToken": {
        const session = this.#session(input.Session);
        const user = this.#user(session.username);
        user.totpSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        return { SecretCode: user.totpSecret, Session: input.Session };
      }
      case "VerifySoftwareToken": {
        const session = this.#session(input.Session);
        const user = this.#user(session.username);
        if (input.UserCode !== totp(user.totpSecret ?? "")) {
          throw new FakeError("EnableSoftwareTokenMFAException", "Code mismatch");
        }
        user.mfa = "SOFTWARE_TOKEN_MFA";
        session.step = "MFA_SETUP_DONE";
        return { Status: "SUCCESS", Session: input.Session };
      }
      case "ConfirmDevice": {
        const device = this.devices.get(String(input.DeviceKey));
        if (device === undefined) throw new FakeError("ResourceNotFoundException", "Device not found");
        const config = input.DeviceSecretVerifierConfig as { PasswordVerifier: string; Salt: string };
        device.verifier = BigInt(`0x${Buffer.from(config.PasswordVerifier, "base64").toString("hex")}`);
        device.salt = Buffer.from(config.Salt, "base64").toString("hex");
        return { UserConfirmationNecessary: true };
      }
      case "UpdateDeviceStatus": {
        const device = this.devices.get(String(input.DeviceKey));
        if (device === undefined) throw new FakeError("ResourceNotFoundException", "Device not found");
        device.remembered = input.DeviceRememberedStatus === "remembered";
        return {};
      }
      case "RevokeToken": {
        if (this.clientSecret !== undefined && input.ClientSecret !== this.clientSecret) {
          throw new FakeError("NotAuthorizedException", "Client secret mismatch");
        }
        this.revoked.add(String(input.Token));
        this.#refreshTokens.delete(String(input.Token));
        return {};
      }
      case "GlobalSignOut": {
        const claims = JSON.parse(
          Buffer.from(String(input.AccessToken).split(".")[1] ?? "", "base64url").toString(),
        );
        for (const [token, user] of this.#refreshTokens)
          if (user === claims.username) this.#refreshTokens.delete(token);
        this.revoked.add(`global:${claims.username}`);
        return {};
      }
      default:
        throw new FakeError("InvalidActionException", `unknown operation ${target}`);
    }
  }

  #user(username: string): FakeUser {
    const user = this.users.get(username);
    if (user === undefined) throw new FakeError("UserNotFoundException", "User does not exist.");
    return user;
  }

  #session(id: unknown): Session {
    const session = this.#sessions.get(String(id));
    if (session === undefined)
      throw new FakeError("NotAuthorizedException", "Invalid session for the user, session is expired.");
    return session;
  }

  #checkHash(params: Record<string, string>, username: string): void {
    if (this.clientSecret === undefined) return;
    if (params.SECRET_HASH !== secretHash(this.clientSecret, username, this.clientId)) {
      throw new FakeError(
        "NotAuthorizedException",
        `Unable to verify secret hash for client ${this.clientId}`,
      );
    }
  }

  #challenge(
    name: string,
    session: Session,
    parameters: Record<string, string> = {},
    extra: object = {},
  ): unknown {
    const id = randomUUID();
    session.step = name;
    this.#sessions.set(id, session);
    return {
      ChallengeName: name,
      Session: id,
      ChallengeParameters: { USERNAME: session.username, ...parameters },
      ...extra,
    };
  }

  #initiate(input: Record<string, unknown>): unknown {
    if (input.ClientId !== this.clientId)
      throw new FakeError("ResourceNotFoundException", "User pool client does not exist.");
    const flow = String(input.AuthFlow);
    const params = (input.AuthParameters ?? {}) as Record<string, string>;
    const allowed = this.#options.flows;
    if (allowed !== undefined && !allowed.includes(flow)) {
      throw new FakeError("InvalidParameterException", `${flow} flow not enabled for this client`);
    }
    if (flow === "REFRESH_TOKEN_AUTH") {
      const username = this.#refreshTokens.get(params.REFRESH_TOKEN ?? "");
      if (username === undefined) throw new FakeError("NotAuthorizedException", "Invalid Refresh Token");
      this.#checkHash(params, username);
      this.refreshes++;
      this.lastRefreshDevice = params.DEVICE_KEY;
      if (this.refreshMode === "empty") return { AuthenticationResult: { TokenType: "Bearer" } };
      return { AuthenticationResult: this.#tokens(username, this.refreshMode === "rotate", false) };
    }
    const user = this.#user(params.USERNAME ?? "");
    this.#checkHash(params, user.username);
    if (user.status === "UNCONFIRMED")
      throw new FakeError("UserNotConfirmedException", "User is not confirmed.");
    const session: Session = {
      username: user.username,
      step: "",
      ...(params.DEVICE_KEY && { deviceKey: params.DEVICE_KEY }),
    };
    switch (flow) {
      case "USER_SRP_AUTH":
        return this.#passwordVerifier(user, session, params.SRP_A);
      case "USER_PASSWORD_AUTH":
        if (params.PASSWORD !== user.password)
          throw new FakeError("NotAuthorizedException", "Incorrect username or password.");
        return this.#afterPassword(user, session);
      case "USER_AUTH":
        return this.#challenge(
          "SELECT_CHALLENGE",
          session,
          {},
          {
            AvailableChallenges: ["PASSWORD", "PASSWORD_SRP", "EMAIL_OTP", "WEB_AUTHN"],
          },
        );
      case "CUSTOM_AUTH":
        session.round = 0;
        return this.#customRound(user, session);
      default:
        throw new FakeError("InvalidParameterException", `Unsupported flow ${flow}`);
    }
  }

  #passwordVerifier(user: FakeUser, session: Session, srpA: string | undefined): unknown {
    if (!srpA) throw new FakeError("InvalidParameterException", "Missing SRP_A");
    const A = BigInt(`0x${srpA}`);
    if (A % N === 0n) throw new FakeError("NotAuthorizedException", "Incorrect username or password.");
    const b = BigInt(`0x${randomBytes(32).toString("hex")}`);
    session.a = A;
    session.b = b;
    session.B = (k * user.verifier + modPow(g, b, N)) % N;
    session.secretBlock = randomBytes(64).toString("base64");
    return this.#challenge("PASSWORD_VERIFIER", session, {
      SRP_B: session.B.toString(16),
      SALT: user.salt,
      SECRET_BLOCK: session.secretBlock,
      USER_ID_FOR_SRP: user.id,
    });
  }

  /** Checks an SRP claim against a verifier: the server's S from A, v, b, then the signature. */
  #checkClaim(
    session: Session,
    verifier: bigint,
    who: { poolName: string; userId: string },
    responses: Record<string, string>,
  ): void {
    const { a: A, b, B, secretBlock } = session;
    if (A === undefined || b === undefined || B === undefined || secretBlock === undefined) {
      throw new FakeError("NotAuthorizedException", "Incorrect username or password.");
    }
    if (responses.PASSWORD_CLAIM_SECRET_BLOCK !== secretBlock) {
      throw new FakeError("NotAuthorizedException", "Incorrect username or password.");
    }
    const u = scramble(A, B);
    const S = modPow(A * modPow(verifier, u, N), b, N);
    const key = derivedKey(S, u);
    const expected = claimSignature(key, { ...who, secretBlock, timestamp: responses.TIMESTAMP ?? "" });
    if (responses.PASSWORD_CLAIM_SIGNATURE !== expected) {
      throw new FakeError("NotAuthorizedException", "Incorrect username or password.");
    }
  }

  #afterPassword(user: FakeUser, session: Session): unknown {
    if (user.status === "FORCE_CHANGE_PASSWORD") {
      return this.#challenge("NEW_PASSWORD_REQUIRED", session, {
        userAttributes: JSON.stringify(user.attributes),
        requiredAttributes: JSON.stringify((user.requiredAttributes ?? []).map((a) => `userAttributes.${a}`)),
      });
    }
    const device = session.deviceKey === undefined ? undefined : this.devices.get(session.deviceKey);
    if (device?.remembered && device.username === user.username)
      return this.#challenge("DEVICE_SRP_AUTH", session);
    switch (user.mfa) {
      case "SOFTWARE_TOKEN_MFA":
        return this.#challenge("SOFTWARE_TOKEN_MFA", session);
      case "SMS_MFA":
        return this.#challenge("SMS_MFA", session, {
          CODE_DELIVERY_DESTINATION: "+*******0199",
          CODE_DELIVERY_DELIVERY_MEDIUM: "SMS",
        });
      case "CHOOSE":
        return this.#challenge("SELECT_MFA_TYPE", session, {
          MFAS_CAN_CHOOSE: JSON.stringify(["SMS_MFA", "SOFTWARE_TOKEN_MFA"]),
        });
      case "SETUP":
        return this.#challenge("MFA_SETUP", session, {
          MFAS_CAN_SETUP: JSON.stringify(["SOFTWARE_TOKEN_MFA"]),
        });
      case "PASSKEY":
        return this.#challenge("WEB_AUTHN", session, {});
      case "FUTURE":
        return this.#challenge("A_CHALLENGE_FROM_THE_FUTURE", session, {});
      case "SETUP_SMS_ONLY":
        return this.#challenge("MFA_SETUP", session, {
          MFAS_CAN_SETUP: JSON.stringify(["SMS_MFA", "EMAIL_OTP"]),
        });
      default:
        return this.#signedIn(session);
    }
  }

  #customRound(user: FakeUser, session: Session): unknown {
    const rounds = user.custom ?? [];
    const round = rounds[session.round ?? 0];
    if (round === undefined) return this.#signedIn(session);
    return this.#challenge("CUSTOM_CHALLENGE", session, {
      question: round.question,
      round: String((session.round ?? 0) + 1),
    });
  }

  #signedIn(session: Session): unknown {
    return { AuthenticationResult: this.#tokens(session.username, true), ChallengeParameters: {} };
  }

  #respond(input: Record<string, unknown>): unknown {
    if (input.ClientId !== this.clientId)
      throw new FakeError("ResourceNotFoundException", "User pool client does not exist.");
    const session = this.#session(input.Session);
    this.#sessions.delete(String(input.Session));
    const name = String(input.ChallengeName);
    const responses = (input.ChallengeResponses ?? {}) as Record<string, string>;
    if (name === "MFA_SETUP" && session.step === "MFA_SETUP_DONE") return this.#signedIn(session);
    if (name !== session.step)
      throw new FakeError("InvalidParameterException", `expected ${session.step}, got ${name}`);
    const user = this.#user(session.username);
    if (responses.USERNAME !== user.username)
      throw new FakeError("InvalidParameterException", "USERNAME mismatch");
    this.#checkHash(responses, user.username);
    const wrongCode = () =>
      new FakeError("CodeMismatchException", "Invalid code or auth state for the user.");
    switch (name) {
      case "PASSWORD_VERIFIER":
        this.#checkClaim(
          session,
          user.verifier,
          { poolName: poolNameOf(this.userPoolId), userId: user.id },
          responses,
        );
        if (responses.DEVICE_KEY !== undefined) session.deviceKey = responses.DEVICE_KEY;
        return this.#afterPassword(user, session);
      case "NEW_PASSWORD_REQUIRED": {
        const password = responses.NEW_PASSWORD ?? "";
        if (password.length < 8)
          throw new FakeError(
            "InvalidPasswordException",
            "Password does not conform to policy: Password not long enough",
          );
        for (const attribute of user.requiredAttributes ?? []) {
          const value = responses[`userAttributes.${attribute}`];
          if (!value)
            throw new FakeError("InvalidParameterException", `Missing required attribute ${attribute}`);
          user.attributes[attribute] = value;
        }
        this.#setPassword(user, password);
        user.status = "CONFIRMED";
        return this.#afterPassword(user, session);
      }
      case "SOFTWARE_TOKEN_MFA":
        if (responses.SOFTWARE_TOKEN_MFA_CODE !== totp(user.totpSecret ?? "")) throw wrongCode();
        return this.#signedIn(session);
      case "SMS_MFA":
        if (responses.SMS_MFA_CODE !== SMS_CODE) throw wrongCode();
        return this.#signedIn(session);
      case "SELECT_MFA_TYPE":
        if (responses.ANSWER === "SMS_MFA") {
          return this.#challenge("SMS_MFA", session, { CODE_DELIVERY_DESTINATION: "+*******0199" });
        }
        if (responses.ANSWER === "SOFTWARE_TOKEN_MFA") return this.#challenge("SOFTWARE_TOKEN_MFA", session);
        throw new FakeError("InvalidParameterException", "Invalid ANSWER");
      case "MFA_SETUP":
        // Only a session whose TOTP was verified may finish the set-up.
        throw new FakeError("InvalidParameterException", "MFA set-up not verified");
      case "SELECT_CHALLENGE":
        switch (responses.ANSWER) {
          case "PASSWORD":
            if (responses.PASSWORD !== user.password)
              throw new FakeError("NotAuthorizedException", "Incorrect username or password.");
            return this.#afterPassword(user, session);
          case "PASSWORD_SRP":
            return this.#passwordVerifier(user, session, responses.SRP_A);
          case "EMAIL_OTP":
            return this.#challenge("EMAIL_OTP", session, {
              CODE_DELIVERY_DESTINATION: "a***@e***",
              CODE_DELIVERY_DELIVERY_MEDIUM: "EMAIL",
            });
          default:
            throw new FakeError("InvalidParameterException", "Invalid ANSWER");
        }
      case "EMAIL_OTP":
        if (responses.EMAIL_OTP_CODE !== EMAIL_CODE) throw wrongCode();
        return this.#signedIn(session);
      case "CUSTOM_CHALLENGE": {
        const round = (user.custom ?? [])[session.round ?? 0];
        if (round === undefined || responses.ANSWER !== round.answer) {
          throw new FakeError("NotAuthorizedException", "Incorrect username or password.");
        }
        session.round = (session.round ?? 0) + 1;
        return this.#customRound(user, session);
      }
      case "DEVICE_SRP_AUTH": {
        const device = this.devices.get(responses.DEVICE_KEY ?? "");
        if (device?.verifier === undefined || device.salt === undefined)
          throw new FakeError("ResourceNotFoundException", "Device not found");
        const A = BigInt(`0x${responses.SRP_A ?? "0"}`);
        const b = BigInt(`0x${randomBytes(32).toString("hex")}`);
        session.a = A;
        session.b = b;
        session.B = (k * device.verifier + modPow(g, b, N)) % N;
        session.secretBlock = randomBytes(64).toString("base64");
        session.deviceKey = device.key;
        return this.#challenge("DEVICE_PASSWORD_VERIFIER", session, {
          SRP_B: session.B.toString(16),
          SALT: device.salt,
          SECRET_BLOCK: session.secretBlock,
        });
      }
      case "DEVICE_PASSWORD_VERIFIER": {
        const device = this.devices.get(session.deviceKey ?? "");
        if (device?.verifier === undefined)
          throw new FakeError("ResourceNotFoundException", "Device not found");
        this.#checkClaim(
          session,
          device.verifier,
          { poolName: device.groupKey, userId: device.key },
          responses,
        );
        return { AuthenticationResult: this.#tokens(session.username, true, false), ChallengeParameters: {} };
      }
      default:
        throw new FakeError("InvalidParameterException", `unknown challenge ${name}`);
    }
  }

  /** Unsigned JWTs (the CLI only reads their claims), a refresh token, and device metadata when tracking. */
  #tokens(username: string, withRefresh: boolean, newDevice = true): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    const user = this.#user(username);
    const jwt = (claims: object) =>
      `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
    const common = {
      sub: user.id,
      iss: `${this.endpoint}/${this.userPoolId}`,
      iat: now,
      exp: now + this.tokenSeconds,
      jti: randomUUID(),
    };
    const out: Record<string, unknown> = {
      IdToken: jwt({ ...common, aud: this.clientId, token_use: "id", "cognito:username": username }),
      AccessToken: jwt({ ...common, client_id: this.clientId, token_use: "access", username }),
      ExpiresIn: this.tokenSeconds,
      TokenType: "Bearer",
    };
    if (withRefresh) {
      const refresh = randomBytes(32).toString("base64url");
      this.#refreshTokens.set(refresh, username);
      out.RefreshToken = refresh;
      if (this.#options.trackDevices && newDevice) {
        const key = `${this.userPoolId.split("_")[0]}_${randomUUID()}`;
        const groupKey = `-${randomBytes(6).toString("base64url")}`;
        this.devices.set(key, { key, groupKey, username, remembered: false });
        out.NewDeviceMetadata = { DeviceKey: key, DeviceGroupKey: groupKey };
      }
    }
    return out;
  }
}

class FakeError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

function fail(name: string, message: string): { status: number; body: unknown } {
  return { status: 400, body: { __type: name, message } };
}
