/**
 * Forward-auth behind a real ingress in Traefik's header shape: Caddy (Debian's package; Traefik
 * itself is not packaged) with `forward_auth` to cupbearer (`ingress: traefik`). Caddy's
 * forward_auth sends what Traefik's ForwardAuth sends: the request's headers, with
 * `X-Forwarded-Method` and `X-Forwarded-Uri` set, and `X-Forwarded-Host` written by its
 * reverse proxy; on a 2xx it copies `copy_headers` onto the request, otherwise it answers the
 * client with cupbearer's answer. The app gets the requests and identity headers the proxy would
 * have given it, for the same table of requests; refusals never reach it. Real users of
 * cognito-local get through with their own identity.
 */
import t from "tap";
import { startCaddy } from "../support/caddy.js";
import { IDENTITY, startIngressRig, testThroughIngress } from "../support/ingress-rig.js";

t.setTimeout(180_000);

const rig = await startIngressRig(t, "traefik");
const { app, cupbearer, send } = rig;

// As deploy/forward-auth/caddy/Caddyfile: in a route block, so the order is as written. The
// client's own identity headers are deleted first: Caddy leaves one in place when the answer does
// not carry it (an anonymous caller, a user without an email) before 2.10, and Caddy 2.6
// (Debian 12's) copies such a header as its unresolved placeholder, which the matchers after
// forward_auth delete.
const caddy = await startCaddy(
  t,
  `	route {
${IDENTITY.map((h) => `		request_header -${h}`).join("\n")}
		forward_auth ${cupbearer.url.replace("http://", "")} {
			uri /_cupbearer/auth
			copy_headers ${IDENTITY.join(" ")}
		}
${IDENTITY.map(
  (h, i) => `		@unset${i} header_regexp ${h} ^\\{http\\.reverse_proxy\\.header\\.
		request_header @unset${i} -${h}`,
).join("\n")}
		reverse_proxy ${app.url.replace("http://", "")}
	}`,
);

if (caddy !== undefined) {
  const ingress = caddy;
  testThroughIngress(t, rig, "Caddy", caddy.url);

  t.test("a client cannot describe another request: Caddy writes X-Forwarded-* itself", async (t) => {
    const via = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/orders/1" },
      {
        "x-forwarded-uri": "/public/x",
        "x-forwarded-method": "GET",
        "x-forwarded-host": "admin.example.com",
      },
    );
    t.equal(via.status, 401);
    t.same(via.seen, []);
    t.match(
      cupbearer.logs.findLast((l) => l.forwardAuth === true),
      { path: "/orders/1", reason: "missing" },
    );
  });
}
