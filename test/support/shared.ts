/**
 * The emulators a tap run shares between its test files: one cognito-local, one moto_server, one
 * moto_iam_server and one s3rver per run instead of one per file, each file working in names of
 * its own (pools, buckets, tables, roles) so files running side by side never interfere.
 *
 * tap's `before` script (emulators-before.ts) starts a keeper (emulator-keeper.ts) that starts
 * the emulators, on demand or all at once, and its `after` script stops them. A test file asks
 * with `sharedCognitoLocal(t)`, `sharedMoto(t)`, `sharedMotoWorld(t)` or `sharedS3rver(t)`. A file
 * run without tap's before script (plain `node`) gets private ones instead, stopped at teardown.
 * A missing program skips loudly, or fails under CI=true, as `withEmulator` does.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { Test } from "tap";
import { type Emulator, EmulatorUnavailableError, startCognitoLocal } from "../../demo/cognito-emulator.js";
import {
  type AwsKeys,
  createMotoWorld,
  type MotoAws,
  type MotoAwsOptions,
  startMotoIam,
} from "./aws-world.js";
import { withEmulator } from "./emulators.js";
import { startMotoUtc } from "./moto.js";
import { createS3rverBucket, type S3rver, startS3rver } from "./s3rver.js";
import {
  type EmulatorState,
  isAlive,
  logTail,
  readRecord,
  recordPath,
  type SharedName,
  wantPath,
} from "./shared-state.js";
import { waitFor } from "./wait.js";

/** A started emulator as the keeper holds it: its endpoint and what files need of it (JSON). */
export interface Started {
  endpoint: string;
  details: Record<string, unknown>;
  stop(): Promise<void>;
}

const started = (e: Emulator, details: Record<string, unknown> = {}): Started => ({
  endpoint: e.endpoint,
  details,
  stop: e.stop,
});

/** How each shared emulator starts, and its name in skip banners and failures. */
export const STARTERS: Record<SharedName, { label: string; start(): Promise<Started> }> = {
  "cognito-local": { label: "cognito-local", start: async () => started(await startCognitoLocal()) },
  // TZ=UTC: the credentials tests need moto's identity-pool Expiration right; user pools do not mind.
  moto: { label: "moto_server", start: async () => started(await startMotoUtc()) },
  "moto-iam": {
    label: "moto (moto_iam_server.py)",
    start: async () => {
      const moto = await startMotoIam();
      return started(moto, { admin: moto.admin, identityRoleArn: moto.identityRoleArn });
    },
  },
  s3rver: {
    label: "s3rver",
    start: async () => {
      const s3 = await startS3rver();
      return started(s3, { region: s3.region, directory: s3.directory });
    },
  },
};

/** Startup can take long on a loaded machine, and an emulator gets three attempts of 20 s. */
const SHARED_WAIT_MS = 120_000;

/**
 * This run's emulator `name` for test `t`, or undefined after a loud skip (see `withEmulator`).
 */
async function shared(t: Test, name: SharedName): Promise<Started | undefined> {
  const { label, start } = STARTERS[name];
  return withEmulator(t, label, async () => {
    // The keeper's record, found through the tap process every test file is a child of.
    const path = recordPath(process.ppid);
    if (readRecord(path) === undefined) {
      t.comment(`no shared emulators in this run (no ${path}): starting a private ${label}`);
      return start();
    }
    return fromKeeper(path, name, label);
  });
}

/** Asks the keeper for `name` (unless it is on its way) and waits for its verdict. */
async function fromKeeper(path: string, name: SharedName, label: string): Promise<Started> {
  const first = readRecord(path);
  if (first?.emulators[name].state === "idle") writeFileSync(wantPath(path, name), "");
  const logOf = () => `--- the keeper's log (${first?.log}) ---\n${logTail(first?.log ?? "")}`;
  let state: EmulatorState;
  try {
    state = await waitFor(
      `the shared ${label} (record ${path})`,
      (): EmulatorState | undefined => {
        const record = readRecord(path);
        if (record === undefined) return { state: "failed", message: "the run's emulators were stopped" };
        const now = record.emulators[name];
        if (now.state !== "idle" && now.state !== "starting") return now;
        if (!isAlive(record.keeper))
          return { state: "failed", message: `the keeper (pid ${record.keeper}) died` };
        return undefined;
      },
      { timeoutMs: SHARED_WAIT_MS, intervalMs: 100 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logOf()}`);
  }
  if (state.state === "ready") {
    // The run's: never stopped by a file.
    return { endpoint: state.endpoint, details: state.details, stop: async () => undefined };
  }
  if (state.state === "unavailable") throw new EmulatorUnavailableError(state.message);
  throw new Error(`shared ${label}: ${state.state === "failed" ? state.message : state.state}\n${logOf()}`);
}

/** cognito-local (user pools; seed a pool of the file's own with `seedPool`). */
export function sharedCognitoLocal(t: Test): Promise<Emulator | undefined> {
  return shared(t, "cognito-local");
}

/** moto_server with TZ=UTC (user pools with `seedMotoPool`, identity pools, STS). */
export function sharedMoto(t: Test): Promise<Emulator | undefined> {
  return shared(t, "moto");
}

/** A world of the file's own in the run's moto_iam_server (see aws-world.ts); its relay closes at teardown. */
export async function sharedMotoWorld(t: Test, options: MotoAwsOptions = {}): Promise<MotoAws | undefined> {
  const moto = await shared(t, "moto-iam");
  if (moto === undefined) return undefined;
  const details = moto.details as { admin: AwsKeys; identityRoleArn: string };
  const world = await createMotoWorld({ endpoint: moto.endpoint, ...details }, options);
  t.teardown(() => world.stop());
  return world;
}

/** A bucket of the file's own in the run's s3rver (see s3rver.ts). */
export async function sharedS3rver(t: Test): Promise<S3rver | undefined> {
  const s3 = await shared(t, "s3rver");
  if (s3 === undefined) return undefined;
  const details = s3.details as { region: string; directory: string };
  return createS3rverBucket(
    { endpoint: s3.endpoint, ...details },
    `cupbearer-${randomBytes(4).toString("hex")}`,
  );
}
