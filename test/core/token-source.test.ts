import { createServer, type IncomingHttpHeaders } from "node:http";
import { type AddressInfo, connect } from "node:net";
import fc from "fast-check";
import t from "tap";
import { bearerCredential, compileTokenSource, type TokenSourceConfig } from "../../src/core/token-source.js";
import { Refusal } from "../../src/errors.js";

const MAX = 300;
const JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln";
const OTHER_JWT = "aaa.bbb.ccc";

/** A JWT-shaped string of exactly `n` characters. */
const tokenOfLength = (n: number) => `${"a".repeat(n - 4)}.b.c`;

type Outcome = { token: string | undefined } | { status: number; code: string; reason: string };

/** Node's flat rawHeaders list for a headers object (a list value gives one line per element). */
function rawOf(headers: IncomingHttpHeaders): string[] {
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) raw.push(name, v);
  }
  return raw;
}

/** What extract() does with these headers and query: a token (or none), or the refusal it throws. */
function outcome(
  config: TokenSourceConfig,
  headers: IncomingHttpHeaders,
  query = "",
  rawHeaders: readonly string[] = rawOf(headers),
): Outcome {
  try {
    return { token: compileTokenSource(config, MAX).extract(headers, rawHeaders, query) };
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    return { status: err.status, code: err.answerName, reason: err.reason };
  }
}

const found = (token: string | undefined): Outcome => ({ token });
const duplicate: Outcome = { status: 400, code: "bad_request", reason: "duplicate_token" };
const tooLarge: Outcome = { status: 401, code: "invalid_token", reason: "too_large" };
const malformed: Outcome = { status: 401, code: "invalid_token", reason: "malformed" };

t.test("headerName says where a header token lives", async (t) => {
  t.equal(compileTokenSource({}, MAX).headerName, "authorization");
  t.equal(compileTokenSource({ header: "authorization" }, MAX).headerName, "authorization");
  t.equal(compileTokenSource({ header: "X-Api-Token" }, MAX).headerName, "x-api-token");
  t.equal(compileTokenSource({ cookie: "session" }, MAX).headerName, undefined);
  t.equal(compileTokenSource({ query: "access_token" }, MAX).headerName, undefined);
});

t.test("Authorization: Bearer", async (t) => {
  const cases: Array<[name: string, value: string | string[] | undefined, expected: Outcome]> = [
    ["Bearer", `Bearer ${JWT}`, found(JWT)],
    ["scheme lower case", `bearer ${JWT}`, found(JWT)],
    ["scheme upper case", `BEARER ${JWT}`, found(JWT)],
    ["extra spaces", `Bearer    ${JWT}   `, found(JWT)],
    ["empty signature", "Bearer a.b.", found("a.b.")],
    ["absent", undefined, found(undefined)],
    ["empty", "", found(undefined)],
    ["Basic", "Basic dXNlcjpwYXNz", found(undefined)],
    ["Digest", 'Digest username="u"', found(undefined)],
    ["bare token, no scheme", JWT, found(undefined)],
    ["scheme alone", "Bearer", malformed],
    ["scheme glued to token", `Bearer${JWT}`, found(undefined)],
    ["duplicate headers", [`Bearer ${JWT}`, `Bearer ${OTHER_JWT}`], duplicate],
    ["two segments", "Bearer a.b", malformed],
    ["four segments", "Bearer a.b.c.d", malformed],
    ["not base64url", "Bearer a+b.c/d.e", malformed],
    ["padding", "Bearer a.b.c=", malformed],
    ["empty payload", "Bearer a..c", malformed],
    ["not a JWT", "Bearer opaque-token", malformed],
    ["at the limit", `Bearer ${tokenOfLength(MAX)}`, found(tokenOfLength(MAX))],
    ["one byte over", `Bearer ${tokenOfLength(MAX + 1)}`, tooLarge],
    ["far over, not even read", `Bearer ${"a".repeat(MAX * 4)}`, tooLarge],
    ["over and malformed: size wins", `Bearer ${"+".repeat(MAX + 1)}`, tooLarge],
  ];
  for (const [name, value, expected] of cases) {
    const headers: IncomingHttpHeaders = value === undefined ? {} : { authorization: value as string };
    t.strictSame(outcome({}, headers), expected, name);
    t.strictSame(outcome({ header: "Authorization" }, headers), expected, `${name} (header: Authorization)`);
  }
});

t.test("Authorization: a Bearer value that does not parse is malformed, not absent", {}, async (t) => {
  t.strictSame(outcome({}, { authorization: `Bearer ${JWT} ${OTHER_JWT}` }), malformed);
  t.strictSame(outcome({}, { authorization: `Bearer\t${JWT}` }), malformed);
});

t.test("Authorization sent twice, as Node parses it, is refused", async (t) => {
  const { headers, rawHeaders } = await parsedByNode([
    ["Authorization", `Bearer ${JWT}`],
    ["authorization", "Basic dXNlcjpwYXNz"],
  ]);
  // Node keeps only the first Authorization in `headers`; rawHeaders (what goes upstream) has both.
  t.equal(headers.authorization, `Bearer ${JWT}`);
  t.strictSame(outcome({}, headers, "", rawHeaders), duplicate);
  t.strictSame(outcome({}, headers, "", rawHeaders.slice(0, 4)), found(JWT), "once is fine");
});

t.test("duplicates are counted case-insensitively in rawHeaders", async (t) => {
  const headers = { authorization: `Bearer ${JWT}` };
  const cases: Array<[name: string, raw: string[], expected: Outcome]> = [
    ["one", ["Authorization", `Bearer ${JWT}`], found(JWT)],
    [
      "two, other case",
      ["Authorization", `Bearer ${JWT}`, "AUTHORIZATION", `Bearer ${OTHER_JWT}`],
      duplicate,
    ],
    ["two, second empty", ["Authorization", `Bearer ${JWT}`, "authorization", ""], duplicate],
    [
      "a longer name is another header",
      ["Authorization", `Bearer ${JWT}`, "Authorization2", "x"],
      found(JWT),
    ],
    [
      "a value equal to the name is no header",
      ["X-A", "authorization", "Authorization", `Bearer ${JWT}`],
      found(JWT),
    ],
  ];
  for (const [name, raw, expected] of cases) t.strictSame(outcome({}, headers, "", raw), expected, name);
});

t.test("a custom header: raw token or Bearer", async (t) => {
  const config = { header: "X-Token" };
  const cases: Array<[name: string, value: string | string[] | undefined, expected: Outcome]> = [
    ["raw token", JWT, found(JWT)],
    ["raw token, spaces", `  ${JWT} `, found(JWT)],
    ["Bearer", `Bearer ${JWT}`, found(JWT)],
    ["bearer", `bearer  ${JWT}`, found(JWT)],
    ["absent", undefined, found(undefined)],
    ["empty", "", found(undefined)],
    ["another scheme is no token here", "Basic dXNlcjpwYXNz", malformed],
    ["not a JWT", "opaque", malformed],
    ["duplicate headers", [JWT, OTHER_JWT], duplicate],
    ["at the limit", tokenOfLength(MAX), found(tokenOfLength(MAX))],
    ["one byte over", tokenOfLength(MAX + 1), tooLarge],
    ["Bearer, one byte over", `Bearer ${tokenOfLength(MAX + 1)}`, tooLarge],
    ["far over", "a".repeat(MAX + 17), tooLarge],
  ];
  for (const [name, value, expected] of cases) {
    const headers: IncomingHttpHeaders = value === undefined ? {} : { "x-token": value as string };
    t.strictSame(outcome(config, headers), expected, name);
  }
  t.strictSame(
    outcome(config, { authorization: `Bearer ${JWT}` }),
    found(undefined),
    "Authorization is ignored",
  );
});

t.test("a custom header sent twice, as Node parses it, is refused", async (t) => {
  const { headers, rawHeaders } = await parsedByNode([
    ["X-Token", JWT],
    ["x-token", OTHER_JWT],
  ]);
  t.equal(headers["x-token"], `${JWT}, ${OTHER_JWT}`, "Node joins the two values");
  t.strictSame(outcome({ header: "x-token" }, headers, "", rawHeaders), duplicate);
});

t.test("cookie", async (t) => {
  const config = { cookie: "tok" };
  const cases: Array<[name: string, cookie: string | undefined, expected: Outcome]> = [
    ["alone", `tok=${JWT}`, found(JWT)],
    ["among others", `a=1; tok=${JWT}; b=2`, found(JWT)],
    ["no spaces", `a=1;tok=${JWT};b=2`, found(JWT)],
    ["spaces around", `a=1 ;  tok = ${JWT} ; b=2`, found(JWT)],
    ["no Cookie header", undefined, found(undefined)],
    ["absent", "a=1; b=2", found(undefined)],
    ["names are case-sensitive", `Tok=${JWT}`, found(undefined)],
    ["a longer name is another cookie", `tok2=${JWT}; xtok=${JWT}`, found(undefined)],
    ["empty value", "tok=; a=1", found(undefined)],
    ["duplicate", `tok=${JWT}; a=1; tok=${OTHER_JWT}`, duplicate],
    ["duplicate, same value", `tok=${JWT}; tok=${JWT}`, duplicate],
    ["duplicate, one empty", `tok=; tok=${JWT}`, duplicate],
    ["not a JWT", "tok=opaque", malformed],
    ["Bearer is not stripped from cookies", `tok=Bearer ${JWT}`, malformed],
    ["at the limit", `tok=${tokenOfLength(MAX)}`, found(tokenOfLength(MAX))],
    ["one byte over", `tok=${tokenOfLength(MAX + 1)}`, tooLarge],
  ];
  for (const [name, cookie, expected] of cases) {
    const headers: IncomingHttpHeaders = cookie === undefined ? {} : { cookie };
    t.strictSame(outcome(config, headers), expected, name);
  }
  t.strictSame(
    outcome(config, { authorization: `Bearer ${JWT}` }),
    found(undefined),
    "Authorization is ignored",
  );
  t.strictSame(outcome(config, {}, `?tok=${JWT}`), found(undefined), "the query is ignored");
});

t.test("cookie sent in two Cookie headers, as Node parses them, is refused", async (t) => {
  const { headers, rawHeaders } = await parsedByNode([
    ["Cookie", `tok=${JWT}`],
    ["Cookie", `tok=${OTHER_JWT}`],
  ]);
  t.equal(headers.cookie, `tok=${JWT}; tok=${OTHER_JWT}`, "Node joins Cookie headers with '; '");
  t.strictSame(outcome({ cookie: "tok" }, headers, "", rawHeaders), duplicate);
});

t.test("stripFromCookie removes the token cookie and keeps the others", async (t) => {
  const source = compileTokenSource({ cookie: "tok" }, MAX);
  const cases: Array<[cookie: string, expected: string | undefined]> = [
    [`a=1; tok=${JWT}; b=2`, "a=1; b=2"],
    [`tok=${JWT}; a=1`, "a=1"],
    [`a=1;tok=${JWT}`, "a=1"],
    [`a=x=y; tok=${JWT}`, "a=x=y"],
    [`tok=${JWT}; tok=${OTHER_JWT}; c=3`, "c=3"],
    ["a=1; b=2", "a=1; b=2"],
    ["Tok=1", "Tok=1"],
    [`tok=${JWT}`, undefined],
    [`tok=${JWT};`, undefined],
    ["tok=", undefined],
    ["", undefined],
  ];
  for (const [cookie, expected] of cases) t.equal(source.stripFromCookie(cookie), expected, cookie);
  t.equal(source.stripFromQuery(`?tok=${JWT}`), `?tok=${JWT}`, "the query is left alone");
});

t.test("stripFromCookie keeps a cookie without '=' as it was", async (t) => {
  const source = compileTokenSource({ cookie: "tok" }, MAX);
  t.equal(source.stripFromCookie(`flag; tok=${JWT}; b=2`), "flag; b=2");
});

t.test("query parameter", async (t) => {
  const config = { query: "access_token" };
  const cases: Array<[name: string, query: string, expected: Outcome]> = [
    ["alone", `?access_token=${JWT}`, found(JWT)],
    ["among others", `?a=1&access_token=${JWT}&b=2`, found(JWT)],
    ["percent-encoded name", `?access%5Ftoken=${JWT}`, found(JWT)],
    ["no query", "", found(undefined)],
    ["bare ?", "?", found(undefined)],
    ["absent", "?a=1", found(undefined)],
    ["a longer name is another parameter", `?access_token2=${JWT}`, found(undefined)],
    ["empty value", "?access_token=&a=1", found(undefined)],
    ["duplicate", `?access_token=${JWT}&access_token=${OTHER_JWT}`, duplicate],
    ["duplicate, one empty", `?access_token=&access_token=${JWT}`, duplicate],
    ["not a JWT", "?access_token=opaque", malformed],
    ["at the limit", `?access_token=${tokenOfLength(MAX)}`, found(tokenOfLength(MAX))],
    ["one byte over", `?access_token=${tokenOfLength(MAX + 1)}`, tooLarge],
  ];
  for (const [name, query, expected] of cases) t.strictSame(outcome(config, {}, query), expected, name);
  t.strictSame(
    outcome(config, { authorization: `Bearer ${JWT}` }, ""),
    found(undefined),
    "Authorization is ignored",
  );
});

t.test("stripFromQuery removes the token parameter", async (t) => {
  const source = compileTokenSource({ query: "access_token" }, MAX);
  const cases: Array<[query: string, expected: string]> = [
    [`?a=1&access_token=${JWT}&b=2`, "?a=1&b=2"],
    [`?access_token=${JWT}`, ""],
    [`?access_token=${JWT}&access_token=x`, ""],
    [`?access%5Ftoken=${JWT}&a=1`, "?a=1"],
    ["?a=1&b=2", "?a=1&b=2"],
    ["?", "?"],
    ["", ""],
  ];
  for (const [query, expected] of cases) t.equal(source.stripFromQuery(query), expected, query);
  t.equal(source.stripFromCookie("a=1; access_token=x"), "a=1; access_token=x", "cookies are left alone");
  const header = compileTokenSource({}, MAX);
  t.equal(header.stripFromQuery("?access_token=x&b"), "?access_token=x&b", "header sources leave the query");
  t.equal(header.stripFromCookie("a=1;b"), "a=1;b", "header sources leave the cookie");
});

t.test("stripFromQuery removes every spelling extract() reads", async (t) => {
  const source = compileTokenSource({ query: "access_token" }, MAX);
  const spellings = [
    "access_token",
    "access%5Ftoken",
    "access%5ftoken",
    "%61ccess_token",
    "acc%65ss%5Ftok%65n",
  ];
  for (const name of spellings) {
    const query = `?a=1&${name}=${JWT}`;
    t.strictSame(outcome({ query: "access_token" }, {}, query), found(JWT), `${name} is read`);
    const stripped = source.stripFromQuery(query);
    t.equal(stripped, "?a=1", `${name} is removed`);
    t.strictSame(new URLSearchParams(stripped.slice(1)).getAll("access_token"), [], `${name} is gone`);
  }
});

t.test("stripFromQuery leaves the other parameters byte for byte", async (t) => {
  const source = compileTokenSource({ query: "access_token" }, MAX);
  const cases: Array<[query: string, expected: string]> = [
    [`?q=a%20b&access_token=${JWT}`, "?q=a%20b"],
    [`?q=a+b&access_token=${JWT}`, "?q=a+b"],
    [`?p=/x?y&access_token=${JWT}`, "?p=/x?y"],
    [`?flag&access_token=${JWT}`, "?flag"],
    [`?e=%zz&access_token=${JWT}`, "?e=%zz"],
    [`?%zz&access_token=${JWT}&%E0%A4%A=1`, "?%zz&%E0%A4%A=1"],
    [`?b=2&a=1&access_token=${JWT}`, "?b=2&a=1"],
    [`?x=${JWT}&access_token=${JWT}`, `?x=${JWT}`],
  ];
  for (const [query, expected] of cases) t.equal(source.stripFromQuery(query), expected, query);
});

interface NodeHeaders {
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
}

/** The headers and rawHeaders Node's own HTTP parser makes from these header lines. */
async function parsedByNode(lines: Array<[string, string]>): Promise<NodeHeaders> {
  let resolveHeaders: (h: NodeHeaders) => void = () => {};
  const seen = new Promise<NodeHeaders>((resolve) => {
    resolveHeaders = resolve;
  });
  const server = createServer((req, res) => {
    resolveHeaders({ headers: req.headers, rawHeaders: req.rawHeaders });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, "127.0.0.1");
    socket.on("data", () => {});
    socket.on("error", () => {});
    const head = lines.map(([k, v]) => `${k}: ${v}\r\n`).join("");
    socket.write(`GET / HTTP/1.1\r\nHost: x\r\n${head}Connection: close\r\n\r\n`);
    const headers = await seen;
    socket.destroy();
    return headers;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

t.test("bearerCredential reads exactly what /^Bearer +([^ ]+) *$/i matches", async (t) => {
  const reference = (raw: string) => /^Bearer +([^ ]+) *$/i.exec(raw)?.[1] ?? null;
  const piece = fc.constantFrom(
    "Bearer",
    "bearer",
    "BEARER",
    "Bearer:",
    "Bear",
    " ",
    "  ",
    "\t",
    "a.b.c",
    "x",
    "",
  );
  const value = fc.array(piece, { maxLength: 6 }).map((parts) => parts.join(""));
  t.doesNotThrow(
    () =>
      fc.assert(
        fc.property(
          fc.oneof(
            value,
            fc.string(),
            fc.string().map((s) => `Bearer ${s}`),
          ),
          (raw) => {
            if (bearerCredential(raw) !== reference(raw))
              throw new Error(`differs on ${JSON.stringify(raw)}`);
          },
        ),
        { numRuns: 5000 },
      ),
    "the same on 5,000 generated values",
  );
  t.equal(bearerCredential(`Bearer  ${JWT}  `), JWT, "spaces around the credential");
  t.equal(bearerCredential(`bEaReR ${JWT}`), JWT, "the scheme in any case");
  t.equal(bearerCredential(`Bearer ${JWT} x`), null, "a second word");
  t.equal(bearerCredential("Bearer "), null, "no credential");
});
