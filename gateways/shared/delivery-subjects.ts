import { SwitchboardError } from "../../runtime/index.ts";

/**
 * Where a channel's events travel between nodes: NATS subjects under
 * `<prefix>` (a cluster's is `sb.<cluster>.d`). Every name is escaped into tokens, so
 * any topic, user or tenant name is a valid subject:
 *
 * | channel | subject |
 * |---|---|
 * | `topic:a/b` | `<prefix>.t.<tenant>.a.b` |
 * | `topic:$SYS/x` | `<prefix>.s.<tenant>.$SYS.x` (apart, so `#` never reaches it) |
 * | `user:alice` | `<prefix>.u.<tenant>.alice` |
 * | `presence:alice` | `<prefix>.p.<tenant>.alice` |
 * | `client:c1` | `<prefix>.c.<tenant>.c1` |
 * | `topics` | `<prefix>.r.<tenant>` |
 *
 * A topic filter maps to NATS wildcards: `+` to `*`, and a last `#` to `>` plus the
 * parent subject (MQTT's `a/#` matches `a`; NATS's `a.>` does not).
 */

/** NATS's default maximum control line is 4096 bytes; a subject must leave room for the rest of the line. */
export const maxSubjectBytes = 3800;

/**
 * Escapes one level into a NATS token: `.`, `*`, `>`, `%`, whitespace and control
 * characters become `%XX` (their UTF-8 bytes), and the empty level becomes `%`.
 */
export function subjectToken(level: string): string {
  if (level.length === 0) return "%";
  let plain = true;
  for (let i = 0; i < level.length; i++) {
    if (needsEscape(level.charCodeAt(i))) {
      plain = false;
      break;
    }
  }
  if (plain && !/\s/.test(level)) return level;
  let out = "";
  for (const ch of level) {
    const c = ch.codePointAt(0)!;
    out += needsEscape(c) || /\s/.test(ch) ? escapeChar(ch) : ch;
  }
  return out;
}

function needsEscape(c: number): boolean {
  return c <= 0x20 || c === 0x2e || c === 0x2a || c === 0x3e || c === 0x25 || c === 0x7f;
}

function escapeChar(ch: string): string {
  let out = "";
  for (const b of Buffer.from(ch, "utf8")) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}

/** The subject events on `channel` of `tenant` travel on. Throws `limit_exceeded` for one too long for NATS. */
export function channelSubject(prefix: string, tenant: string, channel: string): string {
  const t = subjectToken(tenant);
  let subject: string;
  if (channel.startsWith("topic:")) {
    const name = channel.slice(6);
    subject = `${prefix}.${name.startsWith("$") ? "s" : "t"}.${t}.${levelsToTokens(name)}`;
  } else if (channel.startsWith("user:")) subject = `${prefix}.u.${t}.${subjectToken(channel.slice(5))}`;
  else if (channel.startsWith("presence:")) subject = `${prefix}.p.${t}.${subjectToken(channel.slice(9))}`;
  else if (channel.startsWith("client:")) subject = `${prefix}.c.${t}.${subjectToken(channel.slice(7))}`;
  else if (channel === "topics") subject = `${prefix}.r.${t}`;
  else throw new SwitchboardError("invalid_argument", `no subject for channel ${JSON.stringify(channel)}`);
  return checkLength(subject, channel);
}

/** The subjects a topic filter's events arrive on (one or two). */
export function filterSubjects(prefix: string, tenant: string, filter: string): string[] {
  const t = subjectToken(tenant);
  const space = filter.startsWith("$") ? "s" : "t";
  const levels = filter.split("/");
  const last = levels[levels.length - 1];
  const tokens = levels.map((l) => (l === "+" ? "*" : l === "#" ? ">" : subjectToken(l)));
  const base = `${prefix}.${space}.${t}`;
  const subjects = [checkLength(`${base}.${tokens.join(".")}`, filter)];
  if (last === "#" && levels.length > 1) subjects.push(checkLength(`${base}.${tokens.slice(0, -1).join(".")}`, filter));
  return subjects;
}

function levelsToTokens(name: string): string {
  const levels = name.split("/");
  let out = subjectToken(levels[0]!);
  for (let i = 1; i < levels.length; i++) out += "." + subjectToken(levels[i]!);
  return out;
}

function checkLength(subject: string, what: string): string {
  if (subject.length > maxSubjectBytes / 4 && Buffer.byteLength(subject) > maxSubjectBytes) {
    throw new SwitchboardError("limit_exceeded", `${JSON.stringify(what.slice(0, 80))}… is too long to travel between nodes (${Buffer.byteLength(subject)} of ${maxSubjectBytes} bytes as a subject)`);
  }
  return subject;
}
