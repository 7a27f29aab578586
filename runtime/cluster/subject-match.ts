import { SwitchboardError } from "../errors.ts";

// NATS subjects: `.`-separated tokens, none empty, no whitespace. In a subscription a
// token that is exactly `*` matches one token and a last token `>` matches one or more;
// `*` or `>` inside a longer token is an ordinary character, as in nats-server.
const whitespace = /\s/;

/** Splits and checks a subject; throws `invalid_argument` naming the subject. */
export function subjectTokens(subject: string, use: "publish" | "subscribe"): string[] {
  if (typeof subject !== "string" || subject.length === 0 || whitespace.test(subject)) {
    throw invalidSubject(subject, "a subject is non-empty and has no whitespace");
  }
  const tokens = subject.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.length === 0) throw invalidSubject(subject, "a subject has no empty tokens");
    if (token === "*" || token === ">") {
      if (use === "publish") throw invalidSubject(subject, "a message is sent to a subject without wildcards");
      if (token === ">" && i !== tokens.length - 1) throw invalidSubject(subject, "'>' is only the last token");
    }
  }
  return tokens;
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
