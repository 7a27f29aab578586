import { defineActor } from "../../runtime/index.ts";
import { topicsChannel } from "../messaging/channel.ts";
import { publishEvent } from "../messaging/journal.ts";
import { topicMatches } from "../messaging/topic-name.ts";
import type { ActorContext } from "../../runtime/index.ts";

export interface TopicDirectoryState {
  /** Managed topics, sorted. */
  managed: string[];
  /** Topics that hold a retained message, sorted. */
  retained: string[];
}

/** The directory's key in a tenant: `topic-directory/<tenant>:topics`. */
export function topicDirectoryKey(tenant: string): string {
  return `${tenant}:topics`;
}

/**
 * One per tenant: which topics are managed (so a gateway knows which messages must
 * pass through a topic actor) and which hold a retained message (so a subscription
 * asks only the topics that have one, and a wildcard subscription finds them). A
 * topic's actor records its retained message here before the publisher is answered. Each change is published on the tenant's `topics`
 * channel, which every node follows.
 */
export const TopicDirectory = defineActor({
  type: "topic-directory",
  initialState: (): TopicDirectoryState => ({ managed: [], retained: [] }),
  handlers: {
    add: (ctx, topic: string) => {
      if (insert(ctx.state.managed, topic)) publishEvent(ctx as ActorContext<unknown>, topicsChannel, { topicChange: { topic, managed: true } }, `managed-${ctx.messageId}`);
    },
    remove: (ctx, topic: string) => {
      if (remove(ctx.state.managed, topic)) publishEvent(ctx as ActorContext<unknown>, topicsChannel, { topicChange: { topic, managed: false } }, `unmanaged-${ctx.messageId}`);
    },
    retained: (ctx, a: { topic: string; on: boolean }) => void (a.on ? insert(ctx.state.retained, a.topic) : remove(ctx.state.retained, a.topic)),
    list: { readOnly: true, handler: (ctx) => ({ managed: ctx.state.managed, retained: ctx.state.retained }) },
    /** The topics holding a retained message that `filter` (a name or a wildcard filter) matches. */
    retainedMatching: {
      readOnly: true,
      handler: (ctx, filter: string) => {
        const retained = ctx.state.retained;
        if (!filter.includes("+") && !filter.includes("#")) return has(retained, filter) ? [filter] : [];
        return retained.filter((t) => topicMatches(filter, t));
      },
    },
  },
});

function insert(sorted: string[], value: string): boolean {
  const at = lowerBound(sorted, value);
  if (sorted[at] === value) return false;
  sorted.splice(at, 0, value);
  return true;
}

function has(sorted: string[], value: string): boolean {
  return sorted[lowerBound(sorted, value)] === value;
}

/** The first index whose element is not below `value` (binary search). */
function lowerBound(sorted: readonly string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function remove(sorted: string[], value: string): boolean {
  const i = sorted.indexOf(value);
  if (i < 0) return false;
  sorted.splice(i, 1);
  return true;
}
