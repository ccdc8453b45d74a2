// The unit tests of the config (test/config/*.test.ts), in one process: see support/together.ts.
import { runTogether } from "./support/together.js";

await runTogether(`${import.meta.dirname}/config`);
