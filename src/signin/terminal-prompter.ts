/**
 * The prompter of `cupbearer login`: on a terminal it asks on stderr and reads secrets with echo
 * off (raw mode: nothing is drawn while typing, not even stars); without one it reads answers from
 * stdin, one a line, for scripts and CI. Some answers may come from the environment:
 * CUPBEARER_MFA_CODE (any one-time code), CUPBEARER_NEW_PASSWORD, CUPBEARER_CHALLENGE_ANSWER.
 * Passwords never come from the environment or the arguments: a terminal, or stdin with
 * --password-stdin.
 */
import { SignInError } from "./messages.js";
import type { Prompter, Question, QuestionKind } from "./prompter.js";

/** The part of process.stdin a prompter uses. */
export interface PromptInput {
  readonly isTTY?: boolean | undefined;
  setRawMode?(mode: boolean): unknown;
  on(event: "data", listener: (chunk: Buffer | string) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  off(event: "data", listener: (chunk: Buffer | string) => void): unknown;
  off(event: "end", listener: () => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface TerminalPrompterProps {
  readonly input: PromptInput;
  readonly output: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** --password-stdin: the password is stdin's first line, even on a terminal. */
  readonly passwordStdin: boolean;
}

/** Environment variables that may answer a kind of question. */
export const ENV_ANSWERS: Partial<Record<QuestionKind, string>> = {
  code: "CUPBEARER_MFA_CODE",
  "new-password": "CUPBEARER_NEW_PASSWORD",
  answer: "CUPBEARER_CHALLENGE_ANSWER",
};

// A line longer than this is no answer to a prompt: refuse it rather than grow without bound.
const MAX_LINE = 4096;

/** Lines (or, in raw mode, keystrokes) from a stream, read only while someone waits for them. */
class LineReader {
  #buffer = "";
  #ended = false;
  #waiter: (() => void) | undefined;
  readonly #onData = (chunk: Buffer | string) => {
    this.#buffer += chunk.toString();
    this.#wake();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#wake();
  };

  constructor(private readonly input: PromptInput) {
    input.on("data", this.#onData);
    input.on("end", this.#onEnd);
    input.pause();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  async #more(): Promise<boolean> {
    if (this.#ended) return false;
    this.input.resume();
    await new Promise<void>((resolve) => {
      this.#waiter = resolve;
    });
    this.input.pause();
    return true;
  }

  /** The next line without its end, or undefined at the end of input. */
  async line(): Promise<string | undefined> {
    for (;;) {
      const at = this.#buffer.indexOf("\n");
      if (at >= 0) {
        const line = this.#buffer.slice(0, at).replace(/\r$/, "");
        this.#buffer = this.#buffer.slice(at + 1);
        return line;
      }
      if (this.#buffer.length > MAX_LINE) throw new SignInError("an input line is too long");
      if (!(await this.#more())) {
        if (this.#buffer === "") return undefined;
        const last = this.#buffer;
        this.#buffer = "";
        return last;
      }
    }
  }

  /** Keystrokes in raw mode up to Enter: backspace edits, Ctrl-C and Ctrl-D cancel. */
  async keys(): Promise<string> {
    let typed = "";
    for (;;) {
      while (this.#buffer.length > 0) {
        const ch = this.#buffer[0] as string;
        this.#buffer = this.#buffer.slice(1);
        if (ch === "\r" || ch === "\n") return typed;
        if (ch === "\u0003" || (ch === "\u0004" && typed === "")) throw new SignInError("cancelled");
        if (ch === "\u007f" || ch === "\b") typed = [...typed].slice(0, -1).join("");
        else if (ch >= " ") typed += ch;
        if (typed.length > MAX_LINE) throw new SignInError("an input line is too long");
      }
      if (!(await this.#more())) throw new SignInError("cancelled");
    }
  }

  close(): void {
    this.input.off("data", this.#onData);
    this.input.off("end", this.#onEnd);
    this.input.pause();
  }
}

/** A prompter on a terminal, stdin lines and the environment; `close()` when the sign-in is over. */
export class TerminalPrompter implements Prompter {
  readonly #props: TerminalPrompterProps;
  readonly #reader: LineReader;

  constructor(props: TerminalPrompterProps) {
    this.#props = props;
    this.#reader = new LineReader(props.input);
  }

  say(text: string): void {
    this.#props.output.write(`${text}\n`);
  }

  async ask(question: Question): Promise<string> {
    const { env, input, passwordStdin, output } = this.#props;
    const envName = ENV_ANSWERS[question.kind];
    const fromEnv = envName === undefined ? undefined : env[envName];
    if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
    if (question.kind === "password" && passwordStdin) return this.#line(question, undefined);
    if (input.isTTY !== true) {
      if (question.kind === "password") {
        throw new SignInError("stdin is not a terminal: pass --password-stdin to read the password from it");
      }
      return this.#line(question, envName);
    }
    if (question.choices !== undefined) {
      output.write(`${question.choices.map((c, i) => `  ${i + 1}. ${c}`).join("\n")}\n`);
    }
    output.write(`${question.label}: `);
    if (!question.secret || input.setRawMode === undefined) {
      const line = await this.#reader.line();
      if (line === undefined) throw new SignInError("cancelled");
      return line;
    }
    input.setRawMode(true);
    try {
      return await this.#reader.keys();
    } finally {
      input.setRawMode(false);
      output.write("\n");
    }
  }

  /** The next stdin line; its end is an error naming what was asked and where else it may come from. */
  async #line(question: Question, envName: string | undefined): Promise<string> {
    const line = await this.#reader.line();
    if (line === undefined) {
      const alternative = envName === undefined ? "" : `, or set ${envName}`;
      throw new SignInError(
        `no answer for "${question.label}": stdin has ended (give one a line${alternative})`,
      );
    }
    return line;
  }

  close(): void {
    this.#reader.close();
  }
}
