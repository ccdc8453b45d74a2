/**
 * `host:port` addresses, as the store's Sentinel and Cluster settings list them: a DNS name or an
 * IPv4 address, or an IPv6 address in brackets (`[fd00::1]:26379`), then a port from 1 to 65535.
 * The port is required: a Sentinel's (26379) and a node's (6379) differ, and a guess that is
 * wrong fails only at run time.
 */

/** One address: the host without brackets, ready for a socket. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)):(\d{1,5})$/;

/** The address in `text`, or undefined when it is not `host:port` with a port from 1 to 65535. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = ADDRESS.exec(text);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65_535) return undefined;
  const v6 = m[1];
  if (v6 !== undefined && !v6.includes(":")) return undefined;
  return { host: v6 ?? (m[2] as string), port };
}
