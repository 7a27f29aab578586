import { SwitchboardError } from "../../runtime/index.ts";

/**
 * Topic names and filters, with MQTT's rules because MQTT is the strictest of the
 * protocols that share them: levels separated by `/`, any of them may be empty; `+`
 * in a filter is exactly one level, `#` the last level and any below it (and the
 * parent itself); names hold no wildcard and no U+0000 ([MQTT-4.7.3-1], [MQTT-4.7.3-2]).
 * A name starting with `$` is the server's: filters starting with a wildcard never
 * match it ([MQTT-4.7.2-1]).
 */

/** The longest name or filter, in UTF-16 units; MQTT's own bound is 65,535 bytes. */
export const maxTopicLength = 4096;

/** Throws `invalid_argument` unless `name` is a topic name one may publish to. */
export function checkTopicName(name: string): string {
  if (typeof name !== "string" || name.length === 0 || name.length > maxTopicLength) {
    throw bad(name, `a topic name is 1-${maxTopicLength} characters`);
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2b /* + */ || c === 0x23 /* # */) throw bad(name, "a topic name holds no wildcard (+ or #)");
    if (c === 0) throw bad(name, "a topic name holds no U+0000");
  }
  return name;
}

/** Throws `invalid_argument` unless `filter` is a well-formed topic filter. */
export function checkTopicFilter(filter: string): string {
  if (typeof filter !== "string" || filter.length === 0 || filter.length > maxTopicLength) {
    throw bad(filter, `a topic filter is 1-${maxTopicLength} characters`);
  }
  let levelStart = 0;
  for (let i = 0; i <= filter.length; i++) {
    const c = i === filter.length ? 0x2f : filter.charCodeAt(i);
    if (c === 0) throw bad(filter, "a topic filter holds no U+0000");
    if (c === 0x2b && (i !== levelStart || (i + 1 < filter.length && filter.charCodeAt(i + 1) !== 0x2f))) {
      throw bad(filter, "'+' stands alone in its level"); // [MQTT-4.7.1-3]
    }
    if (c === 0x23 && (i !== levelStart || i !== filter.length - 1)) {
      throw bad(filter, "'#' stands alone in the last level"); // [MQTT-4.7.1-2]
    }
    if (c === 0x2f) levelStart = i + 1;
  }
  return filter;
}

export function isWildcardFilter(filter: string): boolean {
  return filter.includes("+") || filter.includes("#");
}

/** Whether `filter` (checked) matches the topic `name` (checked). The reference the trees are tested against. */
export function topicMatches(filter: string, name: string): boolean {
  if (name.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const f = filter.split("/");
  const t = name.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function bad(value: unknown, why: string): SwitchboardError {
  return new SwitchboardError("invalid_argument", `invalid topic ${JSON.stringify(value)}: ${why}`, { context: { topic: value } });
}
