import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends bytes exactly as given (no client-side URL normalization, any header), and parses the one
 * response; for the path and header tricks a real HTTP client would tidy away.
 */
export function rawRequest(url: string, head: string, body = ""): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.write(`${head.replace(/\n/g, "\r\n")}\r\n${body}`),
    );
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      text += d;
    });
    socket.on("error", reject);
    socket.on("close", () => {
      const split = text.indexOf("\r\n\r\n");
      const lines = text.slice(0, split).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const c = line.indexOf(":");
        headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
      }
      resolve({ status: Number(lines[0]?.split(" ")[1]), headers, body: text.slice(split + 4) });
    });
  });
}

/** A GET with Connection: close, so the response ends with the socket. */
export function rawGet(url: string, target: string, extraHeaders = ""): Promise<RawResponse> {
  return rawRequest(
    url,
    `GET ${target} HTTP/1.1\nHost: ${new URL(url).host}\nConnection: close\n${extraHeaders}`,
  );
}
