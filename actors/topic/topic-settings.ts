import { SwitchboardError } from "../../runtime/index.ts";

export type TopicAccessName = "anyone" | "members" | "owners";

/** A managed topic's settings, complete. */
export interface TopicSettings {
  /** Keep history. */
  readonly history: boolean;
  /** Keep at most this many messages of history. */
  readonly maxHistory: number;
  /** Who may post. */
  readonly post: TopicAccessName;
  /** Who may subscribe and read the history. */
  readonly read: TopicAccessName;
  /** Publish members' presence changes on the topic. */
  readonly memberPresence: boolean;
}

export type TopicSettingsInput = Partial<TopicSettings>;

/** A room's defaults: history of 10,000, members post and read, no member presence. */
export const defaultTopicSettings: TopicSettings = { history: true, maxHistory: 10_000, post: "members", read: "members", memberPresence: false };

const accessNames: readonly string[] = ["anyone", "members", "owners"];

/** Fills defaults and checks; throws `invalid_argument` naming the bad field. Pure. */
export function resolveTopicSettings(input: TopicSettingsInput): TopicSettings {
  const s = { ...defaultTopicSettings, ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) } as TopicSettings;
  const bad = (why: string) => new SwitchboardError("invalid_argument", `topic settings: ${why}`);
  if (typeof s.history !== "boolean") throw bad("history is true or false");
  if (!Number.isSafeInteger(s.maxHistory) || s.maxHistory < 1 || s.maxHistory > 10_000_000) throw bad("maxHistory is 1-10,000,000");
  if (!accessNames.includes(s.post)) throw bad(`post is anyone, members or owners, not ${JSON.stringify(s.post)}`);
  if (!accessNames.includes(s.read)) throw bad(`read is anyone, members or owners, not ${JSON.stringify(s.read)}`);
  if (typeof s.memberPresence !== "boolean") throw bad("memberPresence is true or false");
  return s;
}
