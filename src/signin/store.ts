/**
 * Where terminal sign-ins are kept: one JSON file per (user pool, app client, user) under
 * `$XDG_CONFIG_HOME/cupbearer/sessions` (`~/.config/cupbearer/sessions` without it). The folders
 * are 0700 and every file 0600 (tokens and a refresh token are as good as a password for their
 * lifetime); files are written to a temporary name and renamed, so a reader never sees half of one.
 * `current` names the last sign-in, used when a command names no user.
 * https://specifications.freedesktop.org/basedir-spec/latest/
 */

import { randomBytes } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { SignInError } from "./messages.js";

/** Which stored sign-in: a user of an app client of a pool. */
export interface SessionKey {
  readonly userPoolId: string;
  readonly clientId: string;
  /** The user's Cognito username, as the pool names it (its `cognito:username`). */
  readonly username: string;
}

/** A remembered device (ConfirmDevice): its password proves the device in DEVICE_SRP_AUTH. */
export interface RememberedDevice {
  readonly key: string;
  readonly groupKey: string;
  readonly password: string;
}

/** One stored sign-in. */
export interface StoredSession extends SessionKey {
  readonly version: 1;
  readonly region: string;
  /** Set when the pool is not AWS's (an emulator); refreshes go there too. */
  readonly endpoint?: string | undefined;
  /** Needed for SECRET_HASH when refreshing; as secret as the refresh token beside it. */
  readonly clientSecret?: string | undefined;
  readonly idToken: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** When the first of the ID and access tokens expires, epoch ms. */
  readonly expiresAt: number;
  readonly device?: RememberedDevice | undefined;
}

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
// Files larger than this are not ours (three tokens are a few KB).
const MAX_FILE_BYTES = 256 * 1024;

/** `$XDG_CONFIG_HOME/cupbearer`, else `$HOME/.config/cupbearer`. */
export function configDir(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env.XDG_CONFIG_HOME;
  // The spec: a relative path in XDG_CONFIG_HOME is invalid and must be ignored.
  if (xdg?.startsWith("/")) return join(xdg, "cupbearer");
  const home = env.HOME;
  if (home === undefined || home === "") {
    throw new SignInError("cannot tell where to keep tokens: set HOME or XDG_CONFIG_HOME");
  }
  return join(home, ".config", "cupbearer");
}

/** A file name for a key: each part encoded, so any username is one safe name. */
function fileName(key: SessionKey): string {
  const part = (s: string) => Buffer.from(s, "utf8").toString("base64url");
  return `${part(key.userPoolId)}.${part(key.clientId)}.${part(key.username)}.json`;
}

function keyOfFile(name: string): SessionKey | undefined {
  const m = /^([\w-]+)\.([\w-]+)\.([\w-]+)\.json$/.exec(name);
  if (!m) return undefined;
  const text = (s: string | undefined) => Buffer.from(s ?? "", "base64url").toString("utf8");
  return { userPoolId: text(m[1]), clientId: text(m[2]), username: text(m[3]) };
}

/** Which sign-in a command means: any of the parts it was given. */
export interface SessionQuery {
  readonly userPoolId?: string | undefined;
  readonly clientId?: string | undefined;
  readonly username?: string | undefined;
}

/** The sign-ins kept under one config folder. */
export class TokenStore {
  readonly dir: string;

  constructor(configFolder: string) {
    this.dir = join(configFolder, "sessions");
  }

  /** The file of a key (it may not exist). */
  path(key: SessionKey): string {
    return join(this.dir, fileName(key));
  }

  /** Creates the folders 0700, and puts the mode right if they existed with another. */
  #ensureDir(): void {
    const parent = join(this.dir, "..");
    for (const dir of [parent, this.dir]) {
      mkdirSync(dir, { recursive: true, mode: DIR_MODE });
      if ((statSync(dir).mode & 0o777) !== DIR_MODE) chmodSync(dir, DIR_MODE);
    }
  }

  /** The stored sign-in of `key`, undefined if none; a damaged file is a SignInError naming it. */
  read(key: SessionKey): StoredSession | undefined {
    const file = this.path(key);
    let text: string;
    try {
      if (statSync(file).size > MAX_FILE_BYTES) throw new SignInError(damaged(file, "too large"));
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    return parseSession(text, file);
  }

  /** Stores a sign-in (0600, atomically) and makes it the current one. */
  write(session: StoredSession): void {
    this.#ensureDir();
    writeAtomic(this.path(session), `${JSON.stringify(session, null, 2)}\n`);
    this.#setCurrent(session);
  }

  /** Stores refreshed tokens without changing which sign-in is current. */
  update(session: StoredSession): void {
    this.#ensureDir();
    writeAtomic(this.path(session), `${JSON.stringify(session, null, 2)}\n`);
  }

  /** Forgets a sign-in; the current pointer too when it named this one. */
  remove(key: SessionKey): void {
    rmSync(this.path(key), { force: true });
    const current = this.current();
    if (current !== undefined && sameKey(current, key)) rmSync(join(this.dir, "current"), { force: true });
  }

  /** Every stored sign-in's key. */
  list(): SessionKey[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    return names.flatMap((name) => keyOfFile(name) ?? []);
  }

  /** The last sign-in's key, if it is still stored. */
  current(): SessionKey | undefined {
    try {
      const key = keyOfFile(readFileSync(join(this.dir, "current"), "utf8").trim());
      return key !== undefined && this.list().some((k) => sameKey(k, key)) ? key : undefined;
    } catch {
      return undefined;
    }
  }

  #setCurrent(key: SessionKey): void {
    writeAtomic(join(this.dir, "current"), `${fileName(key)}\n`);
  }

  /**
   * The one stored sign-in a command means: with no parts given, the current one; else the only
   * one matching every part given. None, or several, is a SignInError saying what to pass.
   */
  find(query: SessionQuery): SessionKey {
    const all = this.list();
    const given =
      query.userPoolId !== undefined || query.clientId !== undefined || query.username !== undefined;
    if (!given) {
      const current = this.current();
      if (current !== undefined) return current;
    }
    const matches = all.filter(
      (k) =>
        (query.userPoolId === undefined || k.userPoolId === query.userPoolId) &&
        (query.clientId === undefined || k.clientId === query.clientId) &&
        (query.username === undefined || k.username === query.username),
    );
    const [only] = matches;
    if (only !== undefined && matches.length === 1) return only;
    if (matches.length === 0) {
      const who = query.username === undefined ? "" : ` for ${query.username}`;
      throw new SignInError(`no stored sign-in${who}: run cupbearer login first`);
    }
    const names = matches.map((k) => `  ${k.username} (pool ${k.userPoolId}, client ${k.clientId})`);
    throw new SignInError(
      `several stored sign-ins match; name one with --user, --user-pool or --client-id:\n${names.join("\n")}`,
    );
  }
}

export function sameKey(a: SessionKey, b: SessionKey): boolean {
  return a.userPoolId === b.userPoolId && a.clientId === b.clientId && a.username === b.username;
}

function damaged(file: string, why: string): string {
  return `the stored sign-in ${file} is damaged (${why}): delete it and run cupbearer login again`;
}

/** A session file's text → the session, checked field by field. */
export function parseSession(text: string, file: string): StoredSession {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SignInError(damaged(file, "not JSON"));
  }
  const v = value as Record<string, unknown> | null;
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new SignInError(damaged(file, "not an object"));
  if (v.version !== 1) throw new SignInError(damaged(file, "unknown version"));
  const strings = ["userPoolId", "clientId", "username", "region", "idToken", "accessToken", "refreshToken"];
  for (const field of strings) {
    if (typeof v[field] !== "string" || v[field] === "") throw new SignInError(damaged(file, `no ${field}`));
  }
  for (const field of ["endpoint", "clientSecret"]) {
    if (v[field] !== undefined && typeof v[field] !== "string")
      throw new SignInError(damaged(file, `bad ${field}`));
  }
  if (typeof v.expiresAt !== "number" || !Number.isFinite(v.expiresAt)) {
    throw new SignInError(damaged(file, "no expiresAt"));
  }
  const d = v.device as Record<string, unknown> | undefined;
  if (
    d !== undefined &&
    (typeof d !== "object" ||
      d === null ||
      typeof d.key !== "string" ||
      typeof d.groupKey !== "string" ||
      typeof d.password !== "string")
  ) {
    throw new SignInError(damaged(file, "bad device"));
  }
  return v as unknown as StoredSession;
}

/** Writes `text` to `file` 0600 through a temporary file in the same folder and a rename. */
export function writeAtomic(file: string, text: string): void {
  // Unique per process and call, so concurrent writers never share a temporary file.
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    writeFileSync(tmp, text, { mode: FILE_MODE, flag: "wx" });
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}
