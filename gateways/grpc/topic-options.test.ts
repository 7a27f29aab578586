import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultTopicSettings, resolveTopicSettings } from "../../actors/index.ts";
import { TopicAccess } from "../../protos/index.ts";
import { isSwitchboardError } from "../../runtime/index.ts";
import { toTopicOptions, toTopicSettings } from "./topic-options.ts";

test("unset options leave every setting to its default", () => {
  assert.deepEqual(resolveTopicSettings(toTopicSettings(undefined)), defaultTopicSettings);
  const unset = { maxHistory: 0, post: TopicAccess.TOPIC_ACCESS_UNSPECIFIED, read: TopicAccess.TOPIC_ACCESS_UNSPECIFIED, memberPresence: false };
  assert.deepEqual(resolveTopicSettings(toTopicSettings(unset)), defaultTopicSettings);
});

test("options map onto settings and back", () => {
  const options = { history: false, maxHistory: 20, post: TopicAccess.TOPIC_ACCESS_OWNERS, read: TopicAccess.TOPIC_ACCESS_ANYONE, memberPresence: true };
  const settings = resolveTopicSettings(toTopicSettings(options));
  assert.deepEqual(settings, { history: false, maxHistory: 20, post: "owners", read: "anyone", memberPresence: true });
  assert.deepEqual(toTopicOptions(settings), options);
  assert.equal(toTopicSettings({ ...options, read: TopicAccess.TOPIC_ACCESS_MEMBERS }).read, "members");
});

test("an access value outside the contract is invalid_argument naming the field", () => {
  const bad = { maxHistory: 0, post: 9 as TopicAccess, read: TopicAccess.TOPIC_ACCESS_UNSPECIFIED, memberPresence: false };
  assert.throws(() => toTopicSettings(bad), (err) => isSwitchboardError(err, "invalid_argument") && /options\.post/.test(err.message));
});
