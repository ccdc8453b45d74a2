/**
 * A real nginx (Debian's package) on a free port of 127.0.0.1, one process (`master_process off`,
 * so it runs as whoever runs the tests), every file in a temporary prefix removed at teardown.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "tap";
import { freePort, portIsOpen } from "./emulators.js";
import { requireProgram } from "./programs.js";
import { waitFor } from "./wait.js";

export interface RunningNginx {
  url: string;
  port: number;
  /** nginx's error log so far (failures of the auth subrequest are written there). */
  errorLog(): Promise<string>;
}

/**
 * Starts nginx with `server` (the body of one `server {}` block; `listen` is added) for `t`;
 * undefined after a loud skip when nginx is missing.
 */
export async function startNginx(t: Test, server: string): Promise<RunningNginx | undefined> {
  const program = requireProgram(t, "nginx", [process.env.NGINX ?? "/usr/sbin/nginx", "/usr/bin/nginx"]);
  if (program === undefined) return undefined;
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-nginx-"));
  const port = await freePort();
  const errorLog = join(dir, "error.log");
  const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${errorLog} info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
${server}
  }
}
`;
  await writeFile(join(dir, "nginx.conf"), conf);
  const child: ChildProcess = spawn(program, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", errorLog], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      resolve();
    }),
  );
  t.teardown(async () => {
    if (!exited) child.kill("SIGTERM");
    await gone;
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  const readLog = () => readFile(errorLog, "utf8").catch(() => "");
  await waitFor(
    `nginx to listen on ${url}`,
    async () => {
      if (exited) throw new Error(`nginx exited: ${stderr}${await readLog()}`);
      return (await portIsOpen(url)) || undefined;
    },
    { timeoutMs: 20_000, intervalMs: 50 },
  );
  return { url, port, errorLog: readLog };
}
