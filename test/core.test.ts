// The unit tests of the pure core (test/core/*.test.ts), in one process: see support/together.ts.
import { runTogether } from "./support/together.js";

await runTogether(`${import.meta.dirname}/core`);
