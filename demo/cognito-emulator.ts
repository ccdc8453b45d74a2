/**
 * Local stand-ins for Amazon Cognito: launches the npm package `cognito-local` as a child process
 * and seeds user pools in it (or in any Cognito-compatible endpoint) through the real AWS SDK.
 *
 * What cognito-local 3.23.3 really puts in tokens (measured; see test/support/emulators.test.ts):
 * - Header: { alg: "RS256", typ: "JWT", kid: "CognitoLocal" }. ONE static RSA key for every pool
 *   and every install: its private half ships inside the npm package, so anyone can mint tokens
 *   it would accept. Never trust its issuer outside tests and demos.
 * - iss: `${IssuerDomain}/${poolId}`. IssuerDomain defaults to "http://localhost:9229" whatever
 *   port it listens on; startCognitoLocal() sets it to the endpoint, so iss is
 *   `http://127.0.0.1:PORT/local_XXXXXXXX` and JWKS is `${iss}/.well-known/jwks.json`.
 *   Pool ids are `local_` + 8 chars: not an AWS region, so aws-jwt-verify's CognitoJwtVerifier
 *   rejects them ("Invalid Cognito User Pool ID"); verify these with a generic JWT verifier.
 * - JWKS: GET /<anything>/.well-known/jwks.json returns that one key, even for unknown pools.
 *   /<pool>/.well-known/openid-configuration hard-codes http://localhost:9229 (ignores config).
 * - ID token: aud = client id, token_use "id", cognito:username, sub, email (only if set),
 *   email_verified (a boolean; false when absent), custom:* attributes (standard ones such as
 *   `name` are NOT copied), cognito:groups (only when non-empty, sorted by name), auth_time, iat,
 *   exp, jti, event_id. No origin_jti.
 * - Access token: client_id (no aud), token_use "access", username, sub,
 *   scope "aws.cognito.signin.user.admin", cognito:groups, auth_time, iat, exp, jti, event_id.
 *   No custom attributes, no origin_jti, no `version`.
 * - Lifetime: exp - iat = 86400 s (24 h) for both, because clients created without
 *   Id/AccessTokenValidity fall back to "24h" (real Cognito: 1 h). It honours those settings.
 * - Custom attributes work: Schema [{ Name: "tenant" }] in CreateUserPool becomes `custom:tenant`;
 *   AdminCreateUser does not validate attributes against the schema anyway.
 * - No password policy is enforced; groups, AdminSetUserPassword(Permanent) and
 *   USER_PASSWORD_AUTH behave as in AWS. Its data lives in `<cwd>/.cognito/db/*.json`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  CreateGroupCommand,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  InitiateAuthCommand,
  type SchemaAttributeType,
} from "@aws-sdk/client-cognito-identity-provider";

export interface Emulator {
  /** Base URL, like http://127.0.0.1:PORT */
  endpoint: string;
  /** Kills the process (and its whole process group) and removes its temporary files. Idempotent. */
  stop(): Promise<void>;
}

export interface SeededUser {
  username: string;
  password: string;
  email?: string;
  groups?: string[];
  /** Extra user attributes; names starting with `custom:` are declared in the pool schema. */
  attributes?: Record<string, string>;
}

export interface SeededPool {
  poolId: string;
  clientId: string;
  region: string;
  /** Exactly the `iss` the emulator puts in tokens. */
  issuer: string;
  /** Where the emulator serves this pool's JWKS. */
  jwksUri: string;
  signIn(username: string, password: string): Promise<{ idToken: string; accessToken: string }>;
}

export interface SeedOptions {
  poolName?: string;
  groups?: string[];
  users: SeededUser[];
  clientName?: string;
}

/** Thrown when the emulator's program is not installed, so callers can skip instead of fail. */
export class EmulatorUnavailableError extends Error {
  override name = "EmulatorUnavailableError";
}

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const LOG_LINES_KEPT = 40;

/** A tuple of `N` ports. */
type Ports<N extends number, P extends number[] = []> = P["length"] extends N ? P : Ports<N, [...P, number]>;

/**
 * `n` distinct free TCP ports on 127.0.0.1: all held open at once before any is released, since
 * two listens on port 0 in a row may be handed the same port when nothing binds it in between.
 */
export async function freePorts<N extends number>(n: N): Promise<Ports<N>> {
  const servers = Array.from({ length: n }, () => createServer().unref());
  try {
    return (await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.on("error", reject);
            server.listen(0, "127.0.0.1", () => {
              const address = server.address();
              if (typeof address === "object" && address !== null) resolve(address.port);
              else reject(new Error("no port"));
            });
          }),
      ),
    )) as Ports<N>;
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** One free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port;
}

// ---------------------------------------------------------------------------------------------
// Child-process management shared by every emulator launcher.
// ---------------------------------------------------------------------------------------------

/**
 * Runs the real program under a tiny `sh` guard: the guard keeps a copy of our stdin pipe and,
 * when that pipe reaches EOF (we closed it, or this Node process died, even by SIGKILL), it
 * terminates the program. That is the only way to avoid orphans when no `exit` handler runs.
 * Background jobs of a non-interactive shell get /dev/null as stdin, hence the fd 3 dance.
 * On SIGTERM the guard forwards it and waits for the program to be gone, so once the guard has
 * exited the program's port is closed. Its first argument is a temp folder to delete at the end
 * (or ""), for the same SIGKILL case.
 */
const GUARD_SCRIPT = [
  "cleanup_dir=$1; shift",
  "exec 3<&0",
  '"$@" </dev/null 3<&- &',
  "child=$!",
  "stopping=",
  "trap 'stopping=1; kill -TERM \"$child\" 2>/dev/null' TERM INT HUP",
  '( cat <&3 >/dev/null 3<&- ; kill -TERM "$child" 2>/dev/null ) &',
  // Our end of the pipes may be dead; a "Terminated" job notice would SIGPIPE the guard.
  "exec 3<&- >/dev/null 2>&1",
  'wait "$child"; status=$?',
  // A trapped signal interrupts `wait`; keep waiting until the program has really exited.
  'while [ -n "$stopping" ] && kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done',
  'if [ -n "$cleanup_dir" ]; then cd / && rm -rf -- "$cleanup_dir"; fi',
  'exit "$status"',
].join("\n");

/** Children still alive, so the `exit` hook can kill them synchronously. */
const liveChildren = new Set<{ child: ChildProcess; tempDir?: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // `exit` listeners must be synchronous: SIGKILL the groups and delete temp folders right away.
  process.on("exit", () => {
    for (const entry of liveChildren) {
      killGroup(entry.child, "SIGKILL");
      if (entry.tempDir) rmSync(entry.tempDir, { recursive: true, force: true });
    }
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // Negative pid = the whole process group created by `detached: true` (guard + program).
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

/** What a launcher needs to start one attempt of an emulator on a given port. */
export interface LaunchSpec {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  endpoint: string;
  /** Deleted on stop (and on process exit). */
  tempDir?: string;
  /** One readiness probe; should resolve quickly (it is given an abort signal). */
  isReady(endpoint: string, signal: AbortSignal): Promise<boolean>;
}

export interface LaunchOptions {
  /** Used in error messages. */
  name: string;
  timeoutMs?: number;
  /** Attempts with a fresh port when the previous one lost a port race. */
  attempts?: number;
}

/**
 * Spawns an emulator on a free port, captures its output, waits until `isReady` says yes, and
 * returns a handle whose `stop()` kills it. Retries with a new port only on "address in use".
 */
export async function launchEmulator(
  makeSpec: (port: number) => Promise<LaunchSpec>,
  options: LaunchOptions,
): Promise<Emulator> {
  const attempts = options.attempts ?? 3;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const spec = await makeSpec(await freePort());
    try {
      return await launchOnce(spec, options);
    } catch (err) {
      lastError = err;
      // freePort() closes its socket before the child binds; another process may win the race.
      const portRace = err instanceof Error && /EADDRINUSE|address already in use/i.test(err.message);
      if (!portRace) throw err;
    }
  }
  throw lastError;
}

async function launchOnce(spec: LaunchSpec, options: LaunchOptions): Promise<Emulator> {
  const timeoutMs = options.timeoutMs ?? STARTUP_TIMEOUT_MS;
  const logTail: string[] = [];
  const remember = (chunk: Buffer): void => {
    for (const line of stripVTControlCharacters(chunk.toString("utf8")).split("\n")) {
      if (line.trim() === "") continue;
      logTail.push(line);
      if (logTail.length > LOG_LINES_KEPT) logTail.shift();
    }
  };

  installExitHook();
  const child = spawn("/bin/sh", ["-c", GUARD_SCRIPT, "sh", spec.tempDir ?? "", spec.command, ...spec.args], {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    detached: true, // own process group, so stop() can kill the guard and the program together
    stdio: ["pipe", "pipe", "pipe"],
  });
  const entry = { child, tempDir: spec.tempDir };
  liveChildren.add(entry);
  child.stdout?.on("data", remember);
  child.stderr?.on("data", remember);
  // Don't let a forgotten emulator keep the event loop alive; the `exit` hook still kills it.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    if (stream instanceof Socket) stream.unref();
  }

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      child.stdin?.destroy(); // closing the pipe also ends the guard's watcher
      resolve({ code, signal });
    });
  });
  let spawnError: Error | undefined;
  child.once("error", (err) => {
    spawnError = err;
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      child.stdin?.destroy();
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        child.ref(); // the child was unref'd; keep the loop alive until it is really gone
        child.kill("SIGTERM"); // to the guard only: it forwards and waits for the program
        let timer: NodeJS.Timeout | undefined;
        const graceful = await Promise.race([
          exited.then(() => true),
          new Promise<false>((r) => {
            timer = setTimeout(r, STOP_GRACE_MS, false);
          }),
        ]);
        clearTimeout(timer);
        if (!graceful) killGroup(child, "SIGKILL");
        await exited;
      }
      killGroup(child, "SIGKILL"); // stragglers of the group, if any
      liveChildren.delete(entry);
      if (spec.tempDir) await rm(spec.tempDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const failure = async (why: string): Promise<never> => {
    await stop();
    const tail = logTail.length > 0 ? `\n--- last output of ${options.name} ---\n${logTail.join("\n")}` : "";
    throw new Error(`${options.name} failed to start: ${why}${tail}`);
  };

  const deadline = Date.now() + timeoutMs;
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((info) => {
    exitInfo = info;
  });
  while (true) {
    if (spawnError) return failure(spawnError.message);
    if (exitInfo) {
      // 127 is the shell's "command not found" (also what a pyenv shim returns without the tool).
      if (exitInfo.code === 127) {
        await stop();
        throw new EmulatorUnavailableError(
          `${options.name}: "${spec.command}" could not be executed (exit 127)\n${logTail.join("\n")}`,
        );
      }
      return failure(`exited early (code ${exitInfo.code}, signal ${exitInfo.signal})`);
    }
    if (Date.now() > deadline) return failure(`not ready after ${timeoutMs} ms`);
    const ready = await spec.isReady(spec.endpoint, AbortSignal.timeout(1_000)).catch(() => false);
    if (ready) return { endpoint: spec.endpoint, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// cognito-local
// ---------------------------------------------------------------------------------------------

/** Absolute path of cognito-local's bin, resolved like Node would (works from .ts and dist/). */
function cognitoLocalBin(): string {
  const require = createRequire(import.meta.url);
  try {
    // package.json "bin": "lib/bin/start.js"; the package has no "exports" map, so this resolves.
    return require.resolve("cognito-local/lib/bin/start.js");
  } catch (err) {
    throw new EmulatorUnavailableError(`cognito-local is not installed: ${(err as Error).message}`);
  }
}

/**
 * Starts cognito-local on a free port of 127.0.0.1 in a fresh temporary folder (it keeps its
 * state in `./.cognito` of its cwd), and waits until GET /health answers.
 */
export async function startCognitoLocal(): Promise<Emulator> {
  const bin = cognitoLocalBin();
  return launchEmulator(
    async (port) => {
      const endpoint = `http://127.0.0.1:${port}`;
      const tempDir = await mkdtemp(join(tmpdir(), "cupbearer-cognito-local-"));
      await mkdir(join(tempDir, ".cognito"));
      // Its config is `.cognito/config.json`, merged over its defaults at startup:
      // - IssuerDomain defaults to http://localhost:9229 whatever the port; pin it to our endpoint
      //   so `iss` + "/.well-known/jwks.json" is the JWKS URL, as with real Cognito.
      // - UserPoolDefaults.UsernameAttributes defaults to ["email"], which copies the username
      //   into an `email` attribute when none is given; real pools don't, so turn it off.
      const config = {
        TokenConfig: { IssuerDomain: endpoint },
        UserPoolDefaults: { UsernameAttributes: [] },
      };
      await writeFile(join(tempDir, ".cognito", "config.json"), JSON.stringify(config, null, 2));
      const env: NodeJS.ProcessEnv = { ...process.env, HOST: "127.0.0.1", PORT: String(port) };
      delete env.COGNITO_LOCAL_DEVMODE;
      return {
        command: process.execPath,
        args: [bin],
        cwd: tempDir,
        env,
        endpoint,
        tempDir,
        isReady: async (url, signal) => (await fetch(`${url}/health`, { signal })).ok,
      };
    },
    { name: "cognito-local" },
  );
}

// ---------------------------------------------------------------------------------------------
// Seeding, through the real AWS SDK
// ---------------------------------------------------------------------------------------------

/** Where a given emulator says a pool's tokens come from and where its keys are. */
export interface PoolUrls {
  issuer(poolId: string): string;
  jwksUri(poolId: string): string;
}

/**
 * Creates a pool, an app client allowing USER_PASSWORD_AUTH (no secret), the groups, and
 * confirmed users with permanent passwords, using the AWS SDK against `endpoint`.
 * Custom attributes (`custom:x` in a user's `attributes`) are declared in the pool schema.
 * When there are users, the first one signs in once so `issuer` is copied from a real token.
 */
export async function seedUserPool(
  endpoint: string,
  region: string,
  opts: SeedOptions,
  urls: PoolUrls,
): Promise<SeededPool> {
  const client = new CognitoIdentityProviderClient({
    endpoint,
    region,
    credentials: { accessKeyId: "local", secretAccessKey: "local" }, // emulators ignore them
    maxAttempts: 1, // emulator errors are deterministic; retrying only slows failures down
  });

  const attributeOf = (user: SeededUser): Record<string, string> => ({
    ...(user.email === undefined ? {} : { email: user.email, email_verified: "true" }),
    ...user.attributes,
  });
  const attributeNames = new Set(opts.users.flatMap((u) => Object.keys(attributeOf(u))));
  const schema: SchemaAttributeType[] = [...attributeNames]
    .filter((name) => name.startsWith("custom:"))
    .map((name) => ({ Name: name.slice("custom:".length), AttributeDataType: "String", Mutable: true }));

  const pool = await client.send(
    new CreateUserPoolCommand({
      PoolName: opts.poolName ?? "cupbearer-demo",
      ...(schema.length > 0 ? { Schema: schema } : {}),
    }),
  );
  const poolId = pool.UserPool?.Id;
  if (!poolId) throw new Error("CreateUserPool returned no pool id");

  const appClient = await client.send(
    new CreateUserPoolClientCommand({
      UserPoolId: poolId,
      ClientName: opts.clientName ?? "cupbearer-demo-client",
      GenerateSecret: false,
      ExplicitAuthFlows: ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
      // moto only copies attributes listed here into ID tokens (real Cognito defaults to all).
      ...(attributeNames.size > 0 ? { ReadAttributes: [...attributeNames] } : {}),
    }),
  );
  const clientId = appClient.UserPoolClient?.ClientId;
  if (!clientId) throw new Error("CreateUserPoolClient returned no client id");

  const groups = new Set([...(opts.groups ?? []), ...opts.users.flatMap((u) => u.groups ?? [])]);
  for (const group of groups) {
    await client.send(new CreateGroupCommand({ UserPoolId: poolId, GroupName: group }));
  }

  for (const user of opts.users) {
    await client.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: user.username,
        MessageAction: "SUPPRESS",
        UserAttributes: Object.entries(attributeOf(user)).map(([Name, Value]) => ({ Name, Value })),
      }),
    );
    // Permanent password = CONFIRMED, so USER_PASSWORD_AUTH returns tokens without a challenge.
    await client.send(
      new AdminSetUserPasswordCommand({
        UserPoolId: poolId,
        Username: user.username,
        Password: user.password,
        Permanent: true,
      }),
    );
    for (const group of user.groups ?? []) {
      await client.send(
        new AdminAddUserToGroupCommand({ UserPoolId: poolId, Username: user.username, GroupName: group }),
      );
    }
  }

  const signIn = async (username: string, password: string) => {
    const out = await client.send(
      new InitiateAuthCommand({
        AuthFlow: "USER_PASSWORD_AUTH",
        ClientId: clientId,
        AuthParameters: { USERNAME: username, PASSWORD: password },
      }),
    );
    const idToken = out.AuthenticationResult?.IdToken;
    const accessToken = out.AuthenticationResult?.AccessToken;
    if (!idToken || !accessToken) {
      throw new Error(
        `sign-in of ${username} returned no tokens (challenge: ${out.ChallengeName ?? "none"})`,
      );
    }
    return { idToken, accessToken };
  };

  // `issuer` must be what tokens really say, so read it from a real token when we can.
  let issuer = urls.issuer(poolId);
  const first = opts.users[0];
  if (first) {
    const { idToken } = await signIn(first.username, first.password);
    const iss = jwtPayload(idToken).iss;
    if (typeof iss === "string") issuer = iss;
  }

  return { poolId, clientId, region, issuer, jwksUri: urls.jwksUri(poolId), signIn };
}

/** Decodes (does not verify) a JWT's payload. */
function jwtPayload(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

/**
 * Seeds a pool in a cognito-local started by `startCognitoLocal()`. Its pool ids look like
 * `local_XXXXXXXX`, hence region "local"; it serves every pool's JWKS (one shared key) under the
 * endpoint.
 */
export function seedPool(endpoint: string, opts: SeedOptions): Promise<SeededPool> {
  return seedUserPool(endpoint, "local", opts, {
    issuer: (poolId) => `${endpoint}/${poolId}`,
    jwksUri: (poolId) => `${endpoint}/${poolId}/.well-known/jwks.json`,
  });
}
