import type { IncomingMessage, ServerResponse } from "node:http";
import { requestHost } from "../core/host.js";
import { Refusal } from "../errors.js";
import type { SessionService } from "../sessions/service.js";
import { publicOrigin } from "./authorize.js";

/**
 * The two paths cupbearer answers itself when `sessions` is configured, on every host and before
 * any route: the callback the user pool sends the browser back to, and sign-out. Neither request
 * reaches an upstream.
 */

export type SessionPath = "callback" | "signOut";

/** Which of the session's own paths `url` is (the path compared exactly, the query ignored). */
export function sessionPath(sessions: SessionService, url: string): SessionPath | undefined {
  const queryAt = url.indexOf("?");
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  if (path === sessions.config.callbackPath) return "callback";
  if (path === sessions.config.signOutPath) return "signOut";
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
  if (which === "callback") {
    if (method !== "GET") throw new Refusal("method", "the callback takes GET");
    const origin = publicOrigin(sessions.config.publicOrigin, requestHost(req.rawHeaders));
    if (origin === undefined) throw new Refusal("bad_host", "no host to rebuild the callback URL on");
    const queryAt = url.indexOf("?");
    answer = await sessions.finishSignIn(origin, queryAt < 0 ? "" : url.slice(queryAt), req.headers.cookie);
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
