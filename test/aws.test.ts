// The unit tests of the AWS signing, chunked bodies and credentials (test/aws/*.test.ts), in one process: see support/together.ts.
import { runTogether } from "./support/together.js";

await runTogether(`${import.meta.dirname}/aws`);
