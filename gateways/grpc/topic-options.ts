import { TopicAccess, type TopicOptions } from "../../protos/index.ts";
import type { TopicAccessName, TopicSettings, TopicSettingsInput } from "../../actors/index.ts";
import { SwitchboardError } from "../../runtime/index.ts";

const accessNames: Readonly<Record<number, TopicAccessName>> = {
  [TopicAccess.TOPIC_ACCESS_ANYONE]: "anyone",
  [TopicAccess.TOPIC_ACCESS_MEMBERS]: "members",
  [TopicAccess.TOPIC_ACCESS_OWNERS]: "owners",
};

const accessValues: Readonly<Record<TopicAccessName, TopicAccess>> = {
  anyone: TopicAccess.TOPIC_ACCESS_ANYONE,
  members: TopicAccess.TOPIC_ACCESS_MEMBERS,
  owners: TopicAccess.TOPIC_ACCESS_OWNERS,
};

function access(value: TopicAccess, field: "post" | "read"): TopicAccessName | undefined {
  if (value === TopicAccess.TOPIC_ACCESS_UNSPECIFIED) return undefined;
  const name = accessNames[value];
  if (name === undefined) throw new SwitchboardError("invalid_argument", `options.${field}: ${value} is not a TopicAccess`);
  return name;
}

/**
 * A request's `TopicOptions` as the settings the messaging API takes; what is unset
 * (history unset, max_history 0, access UNSPECIFIED) is left to the defaults. Pure;
 * throws `invalid_argument` for an access value the contract does not know.
 */
export function toTopicSettings(options: TopicOptions | undefined): TopicSettingsInput {
  if (options === undefined) return {};
  return {
    history: options.history,
    maxHistory: options.maxHistory === 0 ? undefined : options.maxHistory,
    post: access(options.post, "post"),
    read: access(options.read, "read"),
    memberPresence: options.memberPresence,
  };
}

/** A topic's settings, complete, as the contract's `TopicOptions`. */
export function toTopicOptions(settings: TopicSettings): TopicOptions {
  return {
    history: settings.history,
    maxHistory: settings.maxHistory,
    post: accessValues[settings.post],
    read: accessValues[settings.read],
    memberPresence: settings.memberPresence,
  };
}
