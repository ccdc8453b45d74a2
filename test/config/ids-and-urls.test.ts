import t from "tap";
import { isRemoteHttp, issuerUrl, regionOfPoolId } from "../../src/config/ids-and-urls.js";

t.test("issuerUrl", async (t) => {
  t.equal(
    issuerUrl({ cognito: { region: "eu-west-1", userPoolId: "eu-west-1_AbCdEf123" } }),
    "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
  );
  t.equal(issuerUrl({ issuer: "http://127.0.0.1:9229/local_abc" }), "http://127.0.0.1:9229/local_abc");
  t.equal(issuerUrl({}), undefined);
});

t.test("regionOfPoolId", async (t) => {
  const cases: Array<[id: string, region: string | undefined]> = [
    ["eu-west-1_AbCdEf123", "eu-west-1"],
    ["us-gov-west-1_x1", "us-gov-west-1"],
    ["eu-west-1:11111111-2222-3333-4444-555555555555", "eu-west-1"],
    ["ap-southeast-2:11111111-2222-3333-4444-555555555555", "ap-southeast-2"],
    ["AbCdEf123", undefined],
    ["eu-west-1:not-a-uuid", undefined],
  ];
  for (const [id, region] of cases) t.equal(regionOfPoolId(id), region, id);
});

t.test("isRemoteHttp: plain http to anything but loopback", async (t) => {
  const cases: Array<[url: string, remote: boolean]> = [
    ["http://idp.example/jwks", true],
    ["http://10.0.0.5/", true],
    ["http://127.0.0.2/", true],
    ["http://127.0.0.1:9229/", false],
    ["http://localhost/", false],
    ["http://[::1]:4700/", false],
    ["https://idp.example/", false],
  ];
  for (const [url, remote] of cases) t.equal(isRemoteHttp(url), remote, url);
  t.throws(
    () => isRemoteHttp("not a url"),
    TypeError,
    "a value the shape would refuse throws: callers pass URLs only",
  );
});
