import type { IncomingMessage, ServerResponse } from "node:http";
import { requestHost } from "../core/host.js";
import { safeReturnPath } from "../core/session-rules.js";
import { Refusal } from "../errors.js";
import type { SessionService } from "../sessions/service.js";
import { publicOrigin } from "./authorize.js";

/**
 * The paths cupbearer answers itself when `sessions` is configured, on every host and before any
 * route: the callback the user pool sends the browser back to, sign-out, and the start of a
 * sign-in (for an ingress's `auth-signin`). None of them reaches an upstream.
 */

export type SessionPath = "callback" | "signOut" | "start";

/** Which of the session's own paths `url` is (the path compared exactly, the query ignored). */
export function sessionPath(sessions: SessionService, url: string): SessionPath | undefined {
  const queryAt = url.indexOf("?");
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  if (path === sessions.config.callbackPath) return "callback";
  if (path === sessions.config.signOutPath) return "signOut";
  if (path === sessions.config.startPath) return "start";
  return undefined;
}

/**
 * Answers a callback or sign-out with a redirect; throws a Refusal for the caller's edge to
 * answer. `setCookies` receives the cookies the answer (or the refusal) must carry.
 */
export async function answerSessionPath(
  sessions: SessionService,
  which: SessionPath,
  req: IncomingMessage,
  res: ServerResponse,
  setCookies: (cookies: string[]) => void,
): Promise<void> {
  const method = req.method ?? "GET";
  const url = req.url ?? "";
  let answer: { location: string; setCookies: string[] };
  const queryAt = url.indexOf("?");
  const query = queryAt < 0 ? "" : url.slice(queryAt);
  if (which === "start") {
    if (method !== "GET" && method !== "HEAD") throw new Refusal("method", "sign-in starts with GET");
    const rd = new URLSearchParams(query).getAll("rd");
    // One return path, on this origin: never an open redirect.
    const returnPath = rd.length === 0 ? "/" : rd.length === 1 ? safeReturnPath(rd[0]) : undefined;
    if (returnPath === undefined) throw new Refusal("bad_return_path", "rd is not a path on this origin");
    const origin = publicOrigin(sessions.config.publicOrigin, requestHost(req.rawHeaders));
    if (origin === undefined) throw new Refusal("bad_host", "no host to build the callback URL on");
    const start = await sessions.startSignIn(origin, returnPath);
    answer = { location: start.location, setCookies: [start.setCookie] };
  } else if (which === "callback") {
    if (method !== "GET") throw new Refusal("method", "the callback takes GET");
    const origin = publicOrigin(sessions.config.publicOrigin, requestHost(req.rawHeaders));
    if (origin === undefined) throw new Refusal("bad_host", "no host to rebuild the callback URL on");
    answer = await sessions.finishSignIn(origin, query, req.headers.cookie);
  } else {
    // POST from a sign-out button, or GET from a link; either way only cookies are spent.
    if (method !== "GET" && method !== "POST") throw new Refusal("method", "sign-out takes GET or POST");
    answer = await sessions.signOut(req.headers.cookie);
  }
  setCookies(answer.setCookies);
  res
    .writeHead(302, {
      location: answer.location,
      "set-cookie": answer.setCookies,
      "cache-control": "no-store",
      "content-length": "0",
    })
    .end();
}
