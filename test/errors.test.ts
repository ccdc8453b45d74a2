import t from "tap";
import { ANSWERS, type FailureReason, REFUSALS, Refusal } from "../src/errors.js";

t.test("every reason names one answer, and its status comes from there alone", async (t) => {
  for (const reason of Object.keys(REFUSALS) as FailureReason[]) {
    const refusal = new Refusal(reason);
    t.equal(refusal.answer, ANSWERS[REFUSALS[reason]], reason);
    t.equal(refusal.status, ANSWERS[refusal.answerName].status, `${reason} status`);
    t.equal(refusal.message, reason, "without a detail, the log says the reason");
  }
});

t.test("reasons that once shared a name now answer one way each", async (t) => {
  const cases: Array<[FailureReason, number]> = [
    ["malformed", 401],
    ["bad_request", 400],
    ["duplicate_token", 400],
    ["body_incomplete", 400],
    ["issuer", 401],
    ["issuer_not_allowed", 403],
    ["token_use", 403],
    ["credentials_invalid", 401],
    ["busy", 503],
    ["upstream_timeout", 504],
  ];
  for (const [reason, status] of cases) t.equal(new Refusal(reason).status, status, reason);
});

t.test("the detail and Retry-After travel with the refusal, not in its answer", async (t) => {
  const refusal = new Refusal("credentials_throttled", "TooManyRequestsException: slow down", 2);
  t.equal(refusal.message, "TooManyRequestsException: slow down");
  t.equal(refusal.retryAfterSeconds, 2);
  t.notMatch(refusal.answer.message, "TooManyRequests");
});
