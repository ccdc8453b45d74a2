import t from "tap";
import { requestHost } from "../../src/core/host.js";
import { Refusal } from "../../src/errors.js";

function outcome(raw: string[]): string {
  try {
    return requestHost(raw);
  } catch (err) {
    if (err instanceof Refusal) return `${err.reason}: ${err.message}`;
    throw err;
  }
}

t.test("exactly one valid Host: host[:port], a name or a bracketed IPv6 literal", async (t) => {
  const valid = [
    "example.com",
    "Example.COM:8080",
    "a-b.c_d.test",
    "example.com.",
    "127.0.0.1:80",
    "[::1]",
    "[::1]:8443",
    "localhost",
  ];
  for (const host of valid) t.equal(outcome(["Accept", "*/*", "Host", host]), host, host);
});

t.test("a Host that some reader would parse as another host is 400 before routing", async (t) => {
  const invalid = [
    "a.com/.example.com",
    "x@y",
    "a.com?.example.com",
    "a.com#.example.com",
    "",
    " example.com",
    "a..b",
    ".example.com",
    "a.com:",
    "a.com:123456",
    "a.com:8080:90",
    "[::1",
    "[zz::1]",
    "a b",
    "a.com\\.example.com",
    "x".repeat(64),
    `${"a.".repeat(130)}com`,
  ];
  for (const host of invalid)
    t.match(outcome(["host", host]), /^bad_host: Host is not a valid/, JSON.stringify(host));
});

t.test("none or two Hosts: 400, whatever their spelling", async (t) => {
  t.equal(outcome(["Accept", "*/*"]), "bad_host: no Host header");
  t.equal(outcome(["Host", "a.test", "HOST", "b.test"]), "bad_host: more than one Host header");
  t.equal(
    outcome(["Host", "a.test", "host", "a.test"]),
    "bad_host: more than one Host header",
    "even equal ones",
  );
  t.equal(outcome(["Hosts", "a.test", "Host", "b.test"]), "b.test", "a longer name is another header");
});
