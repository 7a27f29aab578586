/**
 * Domain actors: user session, topic, agent, queue, conversation, bot. They see only
 * the narrow actor context of `runtime/` and do no I/O of their own (STYLE.md §7).
 */
export { checkName, checkTenant, parseUserId, userId } from "./messaging/identity.ts";
export type { ConnectionAddress, UserAddress } from "./messaging/identity.ts";
export { checkTopicFilter, checkTopicName, isWildcardFilter, maxTopicLength, topicMatches } from "./messaging/topic-name.ts";
export { clientChannel, parseChannel, presenceChannel, topicChannel, topicsChannel, userChannel } from "./messaging/channel.ts";
export type { Channel } from "./messaging/channel.ts";
export { decodeEntry } from "./messaging/journal.ts";
export { createSessionActor } from "./session/session-actor.ts";
export type { AttachArgs, AttachResult, DeliverResult, DeviceRecord, SessionActor, SessionState } from "./session/session-actor.ts";
export { aggregatePresence, presenceNames } from "./session/presence.ts";
export type { PresenceName } from "./session/presence.ts";
export { defaultSessionOptions } from "./session/session-options.ts";
export type { InboxPolicy, SessionOptions } from "./session/session-options.ts";
export { TopicActor } from "./topic/topic-actor.ts";
export type { PostResult, TopicState } from "./topic/topic-actor.ts";
export { TopicDirectory, topicDirectoryKey } from "./topic/topic-directory.ts";
export { defaultTopicSettings, resolveTopicSettings } from "./topic/topic-settings.ts";
export type { TopicAccessName, TopicSettings, TopicSettingsInput } from "./topic/topic-settings.ts";
export { createMqttSessionActor } from "./mqtt/mqtt-session-actor.ts";
export type { ConnectArgs, ConnectResult, MqttSessionActor, MqttSessionOptions, MqttSessionState, MqttSubscriptionRecord, WillRecord } from "./mqtt/mqtt-session-actor.ts";
