import t from "tap";
import { lenientView, pathReadings, servletView } from "../../src/core/path-views.js";
import { Refusal } from "../../src/errors.js";

function views(path: string): string[] | string {
  try {
    const r = pathReadings(path);
    return r === undefined ? [] : [...new Set([r.servlet, r.lenient])].filter((v) => v !== path);
  } catch (err) {
    if (err instanceof Refusal) return `${err.reason}: ${err.message}`;
    throw err;
  }
}

t.test("plain paths have no other reading", async (t) => {
  for (const p of [
    "/",
    "/api/orders/7",
    "/a.b/c.d",
    "/files/%C3%A9t%C3%A9",
    "/x/",
    "/~user/a-b_c",
    "/ADMIN",
  ]) {
    t.strictSame(views(p), [], p);
  }
});

t.test("servlet view: ;params cut from each segment before mapping", async (t) => {
  const cases: Array<[string, string]> = [
    ["/admin;x/users", "/admin/users"],
    ["/admin;jsessionid=1", "/admin"],
    ["/admin/;x", "/admin/"],
    ["/;x/admin", "/admin"],
    ["/a;b;c/d;e", "/a/d"],
    ["/plain", "/plain"],
  ];
  for (const [path, expected] of cases) t.equal(servletView(path), expected, path);
});

t.test("lenient view: every escape decoded, compatibility forms folded, names trimmed", async (t) => {
  const cases: Array<[string, string]> = [
    ["/admin./x", "/admin/x"],
    ["/admin%20/x", "/admin/x"],
    ["/admin%20.%20./x", "/admin/x"],
    ["/a%C0%AFb", "/a/b"],
    ["/a%E0%80%AFb", "/a/b"],
    ["/a%EF%BC%8Fb", "/a/b"],
    ["/%EF%BD%81dmin", "/admin"],
    ["/adm%C4%B1n", "/admIn"],
    ["/a%3Bx/b", "/a/b"],
    ["/caf%C3%A9", "/caf%C3%A9"],
    ["/x%F0%9F%98%80", "/x%F0%9F%98%80"],
    ["/bad%FF", "/bad%EF%BF%BD"],
    ["/cut%E2%82", "/cut%EF%BF%BD%EF%BF%BD"],
    ["/far%F4%90%80%80", "/far%EF%BF%BD"],
  ];
  for (const [path, expected] of cases) t.equal(lenientView(path), expected, path);
});

t.test("a dot segment in disguise is refused: it would climb where cupbearer did not look", async (t) => {
  for (const p of [
    "/admin/..;/x",
    "/x/.;y/admin",
    "/a/..%20/b",
    "/a/.%20/b",
    "/a/%C0%AE%C0%AE/b",
    "/a/%EF%BC%8E%EF%BC%8E/b",
  ]) {
    t.match(views(p), /^bad_path: a dot segment/, p);
  }
  t.match(views("/a%0A/b"), /^bad_path: a control character/);
  t.match(views("/a%C0%8A/b"), /^bad_path: a control character/, "an overlong one too");
});

t.test("otherViews lists each distinct reading once", async (t) => {
  t.strictSame(views("/admin;x/users"), ["/admin/users"], "servlet and lenient agree: once");
  t.strictSame(views("/a..;/b"), ["/a../b", "/a/b"]);
  t.strictSame(views("/v1."), ["/v1"]);
});
