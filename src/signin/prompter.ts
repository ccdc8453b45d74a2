/**
 * How the sign-in asks a person (or a script) for what Cognito wants next. The engine says what
 * kind of answer it needs; a prompter decides where it comes from (the terminal with echo off,
 * stdin lines, the environment) and never logs it.
 */

/** What is asked: secrets are never echoed, never logged. */
export type QuestionKind =
  | "username"
  | "password"
  | "new-password"
  | "code"
  | "answer"
  | "attribute"
  | "choice"
  | "device-name";

export interface Question {
  readonly kind: QuestionKind;
  /** The prompt's text, e.g. "Code from your authenticator app". */
  readonly label: string;
  /** Not echoed: passwords, codes, custom challenge answers. */
  readonly secret: boolean;
  /** For `choice`: the allowed answers (the engine checks the answer is one of them). */
  readonly choices?: readonly string[];
}

export interface Prompter {
  /** One answer; rejects with a SignInError when none can be had (no terminal, no more input). */
  ask(question: Question): Promise<string>;
  /** Tells the person something (on stderr: stdout is for what scripts read). */
  say(text: string): void;
}
