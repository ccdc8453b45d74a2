import type { Server } from "node:http";
import type { Duplex } from "node:stream";

/**
 * Tracks what a graceful stop must wait for: requests in flight and upgraded connections.
 * Stop order: not ready → stop accepting → drain until the deadline → cut what is left.
 */
export class Lifecycle {
  private inFlight = 0;
  private readonly upgraded = new Set<Duplex>();
  private idle: (() => void) | undefined;
  draining = false;

  /** A request began; `requestEnded` is called once its response has closed. */
  requestStarted(): void {
    this.inFlight++;
  }

  requestEnded(): void {
    this.inFlight--;
    if (this.inFlight === 0) this.idle?.();
  }

  trackUpgrade(socket: Duplex): void {
    this.upgraded.add(socket);
    socket.once("close", () => this.upgraded.delete(socket));
  }

  get active(): number {
    return this.inFlight;
  }

  /** Stops `server` accepting, lets in-flight requests finish for up to `deadlineMs`, then cuts the rest. */
  async drain(server: Server, deadlineMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    server.closeAllConnections();
    for (const s of this.upgraded) s.destroy();
    await closed;
  }
}
