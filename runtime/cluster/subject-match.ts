import { SwitchboardError } from "../errors.ts";

// NATS subjects: `.`-separated tokens, none empty, no whitespace. In a subscription a
// token that is exactly `*` matches one token and a last token `>` matches one or more;
// `*` or `>` inside a longer token is an ordinary character, as in nats-server.
const whitespace = /\s/;

/** Splits and checks a subject; throws `invalid_argument` naming the subject. */
export function subjectTokens(subject: string, use: "publish" | "subscribe"): string[] {
  checkSubject(subject, use);
  return subject.split(".");
}

/** Checks a subject without splitting it (a transport checks every subject it sends to); throws `invalid_argument`. */
export function checkSubject(subject: string, use: "publish" | "subscribe"): void {
  if (typeof subject !== "string" || subject.length === 0 || whitespace.test(subject)) {
    throw invalidSubject(subject, "a subject is non-empty and has no whitespace");
  }
  let tokenStart = 0;
  for (let i = 0; i <= subject.length; i++) {
    if (i < subject.length && subject.charCodeAt(i) !== 46 /* . */) continue;
    const len = i - tokenStart;
    if (len === 0) throw invalidSubject(subject, "a subject has no empty tokens");
    const t = len === 1 ? subject.charCodeAt(tokenStart) : 0;
    if (t === 42 /* * */ || t === 62 /* > */) {
      if (use === "publish") throw invalidSubject(subject, "a message is sent to a subject without wildcards");
      if (t === 62 && i !== subject.length) throw invalidSubject(subject, "'>' is only the last token");
    }
    tokenStart = i + 1;
  }
}

/** Whether a subscription's tokens (checked by `subjectTokens`) match a literal subject's. */
export function subjectMatches(filter: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i];
    if (f === ">") return subject.length > i;
    if (i >= subject.length) return false;
    if (f !== "*" && f !== subject[i]) return false;
  }
  return filter.length === subject.length;
}

/** Whether a subscription subject contains a wildcard token. */
export function hasWildcard(tokens: readonly string[]): boolean {
  return tokens.some((t) => t === "*" || t === ">");
}

function invalidSubject(subject: unknown, message: string): SwitchboardError {
  return new SwitchboardError("invalid_argument", `invalid subject: ${message}`, { context: { subject } });
}
