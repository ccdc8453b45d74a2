import t from "tap";
import { closest, didYouMean } from "../../src/config/suggest.js";

t.test("closest: typos only", async (t) => {
  const keys = ["listen", "admin", "routes", "issuers", "pathPrefix", "path", "scopes", "tables"];
  const cases: Array<[string, string | undefined]> = [
    ["listn", "listen"],
    ["lisetn", "listen"],
    ["Listen", "listen"],
    ["pathprefix", "pathPrefix"],
    ["scope", "scopes"],
    ["table", "tables"],
    ["pth", "path"],
    ["prefix", undefined],
    ["foo", undefined],
    ["ad", undefined],
    ["listen", undefined],
    ["routs", "routes"],
  ];
  for (const [word, expected] of cases) t.equal(closest(word, keys), expected, word);
  t.equal(closest("abc", []), undefined);
  t.equal(didYouMean("requird", ["required", "optional", "public"]), ' (did you mean "required"?)');
  t.equal(didYouMean("zzz", ["required"]), "");
});
