import { connect, createServer, type Socket } from "node:net";

/** A TCP relay on 127.0.0.1 in front of a shared emulator, so one test file can take it away. */
export interface Relay {
  /** `http://127.0.0.1:PORT`: what the file uses instead of the emulator's own endpoint. */
  readonly endpoint: string;
  /** Stops listening and cuts every connection: to this file, the emulator is down. Idempotent. */
  close(): Promise<void>;
}

/**
 * Relays bytes unchanged between 127.0.0.1:PORT and `target` (an `http://host:port` URL). Signed
 * requests still verify: the Host header a client signs is the relay's, and the emulator checks
 * the signature against the headers it receives, which are those.
 */
export async function startRelay(target: string): Promise<Relay> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    track(client);
    track(upstream);
    // Either side failing or ending ends the pair: nothing is left half open.
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  const relayPort = typeof address === "object" && address !== null ? address.port : 0;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${relayPort}`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
