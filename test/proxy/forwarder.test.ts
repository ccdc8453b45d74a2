/**
 * forward() between real sockets: a front server on 127.0.0.1 relays through an undici Pool to a
 * back server, as the handler does; the error-answer filter and the failure mapping.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import t, { type Test } from "tap";
import { Pool, request } from "undici";
import { type ErrorBodyFilter, forward, type UpstreamRequest } from "../../src/proxy/forwarder.js";
import { serve } from "../support/server.js";

const scrub: ErrorBodyFilter = { maxBytes: 64, rewrite: (text) => text.replaceAll("SECRET", "[gone]") };

/** A front server forwarding every request to `back` with `filter`; resolves what forward() settled with. */
async function front(t: Test, back: (req: IncomingMessage, res: ServerResponse) => void, filter = scrub) {
  const backUrl = await serve(t, back);
  const pool = new Pool(backUrl);
  t.teardown(() => pool.destroy());
  const outcomes: Array<number | string> = [];
  const url = await serve(t, (req, res) => {
    const upstream: UpstreamRequest = {
      method: req.method ?? "GET",
      path: req.url ?? "/",
      headers: [],
      body: null,
      errorBody: filter,
    };
    forward(
      pool,
      upstream,
      300,
      res,
      { requestId: "req-12345678", draining: () => false, cancelWith: (cancel) => res.on("close", cancel) },
      () => {},
    ).then(
      (status) => outcomes.push(status),
      (err: { reason: string }) => {
        outcomes.push(err.reason);
        res.writeHead(502).end();
      },
    );
  });
  return { url, outcomes };
}

t.test("error answers are rewritten, or lose a body that cannot be checked", async (t) => {
  const { url } = await front(t, (req, res) => {
    const big = "SECRET".repeat(20);
    if (req.url === "/small") res.writeHead(403, { "content-type": "text/plain" }).end("no: SECRET");
    else if (req.url === "/big") res.writeHead(403).end(big);
    else if (req.url === "/gzip") res.writeHead(500, { "content-encoding": "gzip" }).end("SECRET");
    else if (req.url === "/identity") res.writeHead(500, { "content-encoding": "identity" }).end("SECRET");
    else if (req.method === "HEAD") res.writeHead(404, { "content-length": "17" }).end();
    else res.writeHead(200).end("SECRET is fine in a success");
  });
  const get = async (path: string, method: "GET" | "HEAD" = "GET") => {
    const res = await request(`${url}${path}`, { method });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };
  const small = await get("/small");
  t.equal(small.status, 403);
  t.equal(small.text, "no: [gone]");
  t.equal(small.headers["content-length"], String("no: [gone]".length));
  t.equal(small.headers["x-request-id"], "req-12345678");
  t.equal((await get("/big")).text, "", "over maxBytes: no body");
  const gzip = await get("/gzip");
  t.equal(gzip.text, "", "compressed: no body");
  t.equal(gzip.headers["content-encoding"], undefined, "nor its encoding");
  t.equal((await get("/identity")).text, "[gone]", "identity encoding is readable");
  const head = await get("/missing", "HEAD");
  t.equal(head.status, 404);
  t.equal(head.headers["content-length"], "17", "an answer to HEAD keeps its length");
  t.equal((await get("/ok")).text, "SECRET is fine in a success", "successes stream untouched");
});

t.test("no answer at all is a refusal: 504 when too slow, 502 otherwise", async (t) => {
  const { url, outcomes } = await front(t, (req, res) => {
    if (req.url === "/slow") setTimeout(() => res.end(), 2000).unref();
    else res.socket?.destroy();
  });
  await (await request(`${url}/slow`)).body.dump();
  await (await request(`${url}/reset`)).body.dump();
  t.strictSame(outcomes, ["upstream_timeout", "upstream_error"]);
});

t.test("an answer cut after it began cuts the client's connection too", async (t) => {
  const { url, outcomes } = await front(t, (_req, res) => {
    res.writeHead(200, { "content-length": "100" });
    res.write("part");
    setTimeout(() => res.socket?.destroy(), 20);
  });
  const res = await request(`${url}/cut`);
  t.equal(res.statusCode, 200);
  await t.rejects(res.body.text(), "the client sees the cut");
  t.strictSame(outcomes, [200]);
});

t.test(
  "a client that stops reading pauses the upstream, and the whole answer arrives once it reads",
  async (t) => {
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 7);
    let written = 0;
    const { url, outcomes } = await front(t, (_req, res) => {
      res.writeHead(200, { "content-length": String(total) });
      const pump = () => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    const res = await request(`${url}/big`);
    // Nothing read yet: the back server can only fill the buffers between the three sockets.
    await new Promise((r) => setTimeout(r, 300));
    const whilePaused = written;
    t.ok(
      whilePaused < total / 2,
      `upstream held back while the client did not read (${whilePaused} bytes sent)`,
    );
    let received = 0;
    for await (const part of res.body) received += (part as Buffer).length;
    t.equal(received, total, "every byte arrives once the client reads");
    t.strictSame(outcomes, [200]);
  },
);

t.test(
  "a rewritten body loses the headers that described the old one; answer headers are adjusted",
  async (t) => {
    const backUrl = await serve(t, (req, res) => {
      const digests = { "x-amz-crc32": "1", etag: '"e"', "content-md5": "m", "x-amz-checksum-crc32": "c" };
      if (req.url === "/echo") res.writeHead(400, digests).end("SECRET");
      else if (req.url === "/plain") res.writeHead(400, digests).end("nothing to hide");
      else if (req.url === "/redirect")
        res.writeHead(301, { location: "/elsewhere" }).end("<Endpoint>SECRET</Endpoint>");
      else if (req.url === "/not-modified") res.writeHead(304, { etag: '"e"' }).end();
      else res.writeHead(200, { "x-leak": "SECRET" }).end("ok");
    });
    const pool = new Pool(backUrl);
    t.teardown(() => pool.destroy());
    const url = await serve(t, (req, res) => {
      const upstream: UpstreamRequest = {
        method: "GET",
        path: req.url ?? "/",
        headers: [],
        body: null,
        errorBody: scrub,
        answerHeaders: (out) => {
          delete out["x-leak"];
          out["x-cupbearer-identity-id"] = "us-east-1:1";
        },
      };
      void forward(
        pool,
        upstream,
        1000,
        res,
        { requestId: "req-12345678", draining: () => false, cancelWith: (c) => res.on("close", c) },
        () => {},
      );
    });
    const get = async (path: string) => {
      const res = await request(`${url}${path}`);
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    };
    const echo = await get("/echo");
    t.equal(echo.text, "[gone]");
    for (const h of ["x-amz-crc32", "etag", "content-md5", "x-amz-checksum-crc32"])
      t.notOk(echo.headers[h], `${h} dropped`);
    const plain = await get("/plain");
    t.equal(plain.headers["x-amz-crc32"], "1", "an unchanged body keeps its checksum");
    const redirect = await get("/redirect");
    t.equal(redirect.status, 301);
    t.equal(redirect.text, "<Endpoint>[gone]</Endpoint>", "redirect bodies are filtered too");
    const notModified = await get("/not-modified");
    t.equal(notModified.status, 304);
    t.equal(notModified.headers.etag, '"e"', "a 304 is not held nor rewritten");
    const ok = await get("/ok");
    t.equal(ok.headers["x-leak"], undefined);
    t.equal(ok.headers["x-cupbearer-identity-id"], "us-east-1:1");
    t.equal(echo.headers["x-cupbearer-identity-id"], "us-east-1:1", "error answers carry it too");
  },
);

t.test("a slow client and an upstream that closes after its answer: the whole body, no crash", async (t) => {
  // undici 7 crashes the process when the socket ends while its parser is paused
  // (nodejs/undici#5360): the relay never pauses on a body's last bytes.
  const body = Buffer.alloc(64 * 1024, 7);
  const back = createNetServer((socket) => {
    socket.once("data", () => {
      // Head, body and FIN in one go: the relay's socket sees the end as it reads the last bytes.
      socket.end(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`),
          body,
        ]),
      );
    });
  });
  await new Promise<void>((r) => back.listen(0, "127.0.0.1", r));
  t.teardown(() => back.close());
  const pool = new Pool(`http://127.0.0.1:${(back.address() as AddressInfo).port}`);
  t.teardown(() => pool.destroy());
  const url = await serve(t, (req, res) => {
    const upstream: UpstreamRequest = { method: "GET", path: req.url ?? "/", headers: [], body: null };
    // A client that reads nothing yet: every write is held, so the relay meets backpressure at once.
    res.cork();
    setTimeout(() => res.uncork(), 300).unref();
    void forward(
      pool,
      upstream,
      5000,
      res,
      { requestId: "req-12345678", draining: () => false, cancelWith: (c) => res.on("close", c) },
      () => {},
    );
  });
  for (let round = 0; round < 3; round++) {
    const res = await request(url);
    const got = Buffer.from(await res.body.arrayBuffer());
    t.equal(got.length, body.length, `round ${round}: the whole body`);
  }
});
