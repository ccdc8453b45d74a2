import type { IncomingMessage, ServerResponse } from "node:http";
import { preflight, preflightMethod } from "../core/cors.js";
import { Refusal } from "../errors.js";
import type { ProxyRoute, RouteTable } from "./route-table.js";

/** A CORS preflight to a route with `cors`: the route, and the origin and method it asks about. */
export interface Preflight {
  readonly route: ProxyRoute & { readonly cors: NonNullable<ProxyRoute["cors"]> };
  readonly origin: string;
  readonly method: string;
}

/**
 * The preflight this request is, when it is one to a route with `cors`: the route is matched with
 * the method the preflight asks about, as the call that follows will be. Undefined for every other
 * request, which then goes through the pipeline as before (routes without `cors` included).
 */
export function findPreflight(
  routes: RouteTable,
  method: string,
  req: IncomingMessage,
): Preflight | undefined {
  const { headers } = req;
  const asked = preflightMethod(method, headers.origin, headers["access-control-request-method"]);
  if (asked === undefined) return undefined;
  const route = routes.match(headers.host, asked.method, req.url ?? "")?.route;
  if (route?.cors === undefined) return undefined;
  return { route: route as Preflight["route"], ...asked };
}

/**
 * Answers a preflight itself, without a token and without the upstream: 204 with the allow
 * headers, or a Refusal (an unlisted origin, method or header) the caller answers.
 */
export function answerPreflight(
  { route, origin, method }: Preflight,
  req: IncomingMessage,
  res: ServerResponse,
  answer: { requestId: string; draining: () => boolean },
): void {
  const decision = preflight(route.cors, origin, method, req.headers["access-control-request-headers"]);
  if (!decision.allow) throw new Refusal(decision.reason);
  const headers: Record<string, string> = { ...decision.headers, "x-request-id": answer.requestId };
  if (answer.draining()) headers.connection = "close";
  res.writeHead(204, headers).end();
}
