import { type Logger, pino } from "pino";

export type { Logger };

/**
 * The process logger: JSON lines on stdout. Nothing that could hold a token (headers, query
 * strings, request bodies) is ever passed to it; the redact list is a second line of defence.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "cupbearer" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ["token", "authorization", "headers", "*.authorization", "*.headers"],
        censor: "[redacted]",
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
