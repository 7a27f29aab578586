import { SwitchboardError } from "../../runtime/index.ts";
import { checkName } from "./identity.ts";
import { checkTopicFilter, checkTopicName } from "./topic-name.ts";

/**
 * Where events are published and subscribed, inside one tenant (the tenant is always
 * given beside the channel, never inside it):
 * - `topic:<name>`: a topic's messages, member events and member presence;
 *   subscriptions may use a filter with wildcards;
 * - `user:<user>`: the messages of a user's inbox, and takeovers of their resources;
 * - `presence:<user>`: the user's aggregated presence;
 * - `client:<client id>`: one client session's queue and control (an MQTT session's
 *   queued messages and takeovers);
 * - `topics`: which topics are managed (have members, history or an ACL).
 */
export type Channel =
  | { readonly kind: "topic"; readonly topic: string }
  | { readonly kind: "user"; readonly user: string }
  | { readonly kind: "presence"; readonly user: string }
  | { readonly kind: "client"; readonly clientId: string }
  | { readonly kind: "topics" };

export const topicsChannel = "topics";

export function topicChannel(topic: string): string {
  return `topic:${topic}`;
}

export function userChannel(user: string): string {
  return `user:${user}`;
}

export function presenceChannel(user: string): string {
  return `presence:${user}`;
}

export function clientChannel(clientId: string): string {
  return `client:${clientId}`;
}

/**
 * Parses a channel name; a topic channel may be a filter when `filter` is set.
 * Throws `invalid_argument`.
 */
export function parseChannel(name: string, options: { filter?: boolean } = {}): Channel {
  if (name === topicsChannel) return { kind: "topics" };
  const colon = typeof name === "string" ? name.indexOf(":") : -1;
  const kind = colon < 0 ? "" : name.slice(0, colon);
  const rest = colon < 0 ? "" : name.slice(colon + 1);
  switch (kind) {
    case "topic":
      return { kind, topic: options.filter ? checkTopicFilter(rest) : checkTopicName(rest) };
    case "user":
    case "presence":
      return { kind, user: checkName(rest, "user") };
    case "client":
      return { kind, clientId: checkName(rest, "resource") };
    default:
      throw new SwitchboardError("invalid_argument", `invalid channel ${JSON.stringify(name)}: topic:<name>, user:<user>, presence:<user>, client:<id> or topics`, { context: { channel: name } });
  }
}
