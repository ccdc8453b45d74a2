import { createServer, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import type { Test } from "tap";

/** A plain HTTP server on a free port of 127.0.0.1, closed (connections too) at `t`'s teardown. */
export async function serve(t: Test, handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
