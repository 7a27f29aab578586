import { Message, Presence, type Event, type Member } from "../../protos/index.ts";
import { defineActor, SwitchboardError, type ActorContext } from "../../runtime/index.ts";
import { topicChannel } from "../messaging/channel.ts";
import { checkName } from "../messaging/identity.ts";
import { catchUp, decodeEntry, dedupeKey, publishEvent, recentSeq, remember, type Journaled } from "../messaging/journal.ts";
import { TopicDirectory, topicDirectoryKey } from "./topic-directory.ts";
import { resolveTopicSettings, type TopicAccessName, type TopicSettings, type TopicSettingsInput } from "./topic-settings.ts";

export interface MemberRecord {
  role: "owner" | "member";
  joinedAtMs: number;
}

export interface TopicState extends Journaled {
  /** Created as a managed topic: it has members, an ACL and (by default) history. */
  managed: boolean;
  settings: TopicSettings;
  members: Record<string, MemberRecord>;
  /** `Message.toJSON` of the retained message. */
  retained: unknown;
}

export interface PostResult {
  readonly id: string;
  readonly seq: number;
  readonly timestampMs: number;
  readonly duplicate: boolean;
}

/**
 * The topic actor (`topic/tenant:name`).
 *
 * A plain topic (any name nobody created) needs no actor on its message path: the
 * gateways publish to its subscribers directly. Its actor only keeps the retained
 * message.
 *
 * A managed topic (made with `create`: a room, a channel) carries its messages through
 * here, where they are checked against the ACL, numbered, kept in the history (this
 * actor's message log) and published on `topic:<name>`. It has members with roles,
 * joins and leaves published as member events, and optionally its members' presence.
 * The service (an empty user) may do anything; users are held to `post` and `read`.
 */
export const TopicActor = defineActor({
  type: "topic",
  persistence: "explicit",
  initialState: (): TopicState => ({ managed: false, settings: resolveTopicSettings({}), members: {}, seq: 0, first: 1, retained: undefined, recent: [] }),
  onActivate: async (ctx) => {
    if (!ctx.state.managed || !ctx.state.settings.history) return;
    await catchUp(ctx.messageLog(), ctx.state);
    if (ctx.state.seq > 0) publish(ctx, { head: { seq: ctx.state.seq } }, `head-${ctx.epoch}`);
  },
  handlers: {
    /** Makes the topic managed, with these settings and owners. Idempotent: an existing one keeps its settings. */
    create: async (ctx, a: { settings?: TopicSettingsInput; owners?: string[] }) => {
      const s = ctx.state;
      const created = !s.managed;
      if (created) {
        s.managed = true;
        s.settings = resolveTopicSettings(a.settings ?? {});
        const now = ctx.clock.now();
        for (const owner of a.owners ?? []) s.members[checkName(owner, "user")] = { role: "owner", joinedAtMs: now };
        await ctx.save();
        await ctx.ref(TopicDirectory, topicDirectoryKey(ctx.tenant)).call("add", ctx.key);
      }
      return { settings: s.settings, created };
    },

    /** Adds and removes members; publishes a member event for each change. */
    updateMembers: async (ctx, a: { add?: string[]; remove?: string[]; role?: "owner" | "member" }) => {
      const s = requireManaged(ctx);
      const now = ctx.clock.now();
      const role = a.role ?? "member";
      if (role !== "owner" && role !== "member") throw new SwitchboardError("invalid_argument", `role is owner or member, not ${JSON.stringify(a.role)}`);
      const joined: string[] = [];
      const left: string[] = [];
      for (const user of a.add ?? []) {
        checkName(user, "user");
        const had = s.members[user];
        if (had?.role === role) continue;
        s.members[user] = { role, joinedAtMs: had?.joinedAtMs ?? now };
        if (had === undefined) joined.push(user);
      }
      for (const user of a.remove ?? []) {
        if (s.members[user] === undefined) continue;
        delete s.members[user];
        left.push(user);
      }
      await ctx.save();
      for (const user of joined) publish(ctx, { member: { topic: ctx.key, user, change: 1 } }, `join-${ctx.messageId}-${user}`);
      for (const user of left) publish(ctx, { member: { topic: ctx.key, user, change: 2 } }, `leave-${ctx.messageId}-${user}`);
      if (s.settings.memberPresence) {
        for (const [users, on] of [[joined, true], [left, false]] as const) {
          for (const user of users) {
            void ctx
              .refById(`session/${ctx.tenant}:${user}`)
              .call("watchPresence", { topic: ctx.key, on })
              .catch((err: unknown) => ctx.log.warn({ err, user }, "presence watch not changed"));
          }
        }
      }
      return membersOf(s);
    },

    members: { readOnly: true, handler: (ctx) => membersOf(requireManaged(ctx)) },

    /** Whether `user` ("" for the service) may `post` to or `read` this topic. */
    allowed: { readOnly: true, handler: (ctx, a: { user: string; op: "post" | "read" }) => allowed(ctx.state, a.user, a.op) },

    /** The topic's settings, and whether it is managed. */
    describe: { readOnly: true, handler: (ctx) => ({ managed: ctx.state.managed, settings: ctx.state.settings, lastSeq: ctx.state.seq, firstSeq: ctx.state.first }) },

    /**
     * A message to a managed topic: checked, numbered, kept and published. Throws
     * `permission_denied` for a sender the ACL refuses, `not_found` for a plain topic
     * (whose messages do not pass here).
     */
    post: async (ctx, a: { message: unknown }): Promise<PostResult> => {
      const s = requireManaged(ctx);
      const input = Message.fromJSON(a.message);
      if (!allowed(s, input.fromUser, "post")) {
        throw new SwitchboardError("permission_denied", `${input.fromUser} may not post to ${ctx.key}`, { context: { actorId: ctx.id, tenant: ctx.tenant } });
      }
      const key = dedupeKey(input);
      const seen = recentSeq(s, key);
      if (seen !== undefined) {
        const [entry] = s.settings.history ? await ctx.messageLog().read(seen, 1) : [];
        const earlier = entry === undefined || entry.seq !== seen ? undefined : decodeEntry(entry);
        return { id: earlier?.id ?? "", seq: seen, timestampMs: earlier?.timestampMs ?? 0, duplicate: true };
      }
      const now = ctx.clock.now();
      const message: Message = { ...input, id: ctx.messageId, tenant: ctx.tenant, toUser: undefined, toTopic: ctx.key, seq: 0, timestampMs: now };
      if (s.settings.history) {
        const log = ctx.messageLog();
        message.seq = await log.append(Message.encode(message).finish());
        s.seq = message.seq;
        while (s.seq - s.first + 1 > s.settings.maxHistory) {
          await log.truncate(s.first);
          s.first++;
        }
      } else {
        message.seq = ++s.seq;
      }
      remember(s, key, message.seq);
      if (message.retain) s.retained = message.body.length === 0 ? undefined : Message.toJSON(message);
      // Without history the counter lives only in the state; with it, the log has it.
      if (!s.settings.history || message.retain) await ctx.save();
      publish(ctx, { message }, message.id);
      return { id: message.id, seq: message.seq, timestampMs: now, duplicate: false };
    },

    /**
     * Keeps `message` as the retained one (an empty body clears it: [MQTT-3.3.1-10]).
     * Plain topics' retained messages land here; the gateway delivers the message itself.
     */
    retain: async (ctx, a: { message: unknown }) => {
      const m = Message.fromJSON(a.message);
      ctx.state.retained = m.body.length === 0 ? undefined : Message.toJSON({ ...m, tenant: ctx.tenant, toTopic: ctx.key, toUser: undefined });
      await ctx.save();
      await ctx.ref(TopicDirectory, topicDirectoryKey(ctx.tenant)).call("retained", { topic: ctx.key, on: ctx.state.retained !== undefined });
    },

    retained: {
      readOnly: true,
      handler: (ctx, a: { user?: string } = {}) => {
        if (ctx.state.managed && !allowed(ctx.state, a?.user ?? "", "read")) throw new SwitchboardError("permission_denied", `${a.user} may not read ${ctx.key}`, { context: { actorId: ctx.id } });
        return ctx.state.retained ?? null;
      },
    },

    /**
     * A page of history: entries after `afterSeq` and before `beforeSeq` (0: no bound),
     * the newest `limit` when only `beforeSeq` or neither is given, the oldest after
     * `afterSeq` otherwise.
     */
    history: {
      readOnly: true,
      handler: async (ctx, a: { afterSeq?: number; beforeSeq?: number; limit?: number; user?: string }) => {
        const s = requireManaged(ctx);
        if (!allowed(s, a.user ?? "", "read")) throw new SwitchboardError("permission_denied", `${a.user} may not read ${ctx.key}`, { context: { actorId: ctx.id, tenant: ctx.tenant } });
        if (!s.settings.history) return { messages: [], lastSeq: s.seq };
        const limit = Math.min(Math.max(1, a.limit || 50), 1000);
        const after = a.afterSeq ?? 0;
        const before = a.beforeSeq === undefined || a.beforeSeq === 0 ? Number.MAX_SAFE_INTEGER : a.beforeSeq;
        const log = ctx.messageLog();
        let entries = after > 0 ? await log.read(after + 1, limit) : await log.readBefore(before, limit);
        entries = entries.filter((e) => e.seq > after && e.seq < before);
        return { messages: entries.map((e) => Message.toJSON(decodeEntry(e))), lastSeq: s.seq };
      },
    },

    /** A member's presence changed: published on the topic when it shares its members' presence. */
    memberPresence: (ctx, a: { presence: unknown }) => {
      const s = ctx.state;
      const presence = Presence.fromJSON(a.presence);
      if (!s.managed || !s.settings.memberPresence || s.members[presence.user] === undefined) return;
      publish(ctx, { presence }, `presence-${ctx.messageId}`);
    },
  },
});

type TopicContext = ActorContext<TopicState>;

function requireManaged(ctx: TopicContext): TopicState {
  if (!ctx.state.managed) throw new SwitchboardError("not_found", `no managed topic ${ctx.key}`, { context: { actorId: ctx.id, tenant: ctx.tenant } });
  return ctx.state;
}

function allowed(s: TopicState, user: string, op: "post" | "read"): boolean {
  if (user === "" || !s.managed) return true;
  const rule: TopicAccessName = op === "post" ? s.settings.post : s.settings.read;
  const member = s.members[user];
  return rule === "anyone" || (rule === "members" && member !== undefined) || (rule === "owners" && member?.role === "owner");
}

function membersOf(s: TopicState): Member[] {
  return Object.entries(s.members)
    .map(([user, m]) => ({ user, role: m.role, joinedAtMs: m.joinedAtMs }))
    .sort((a, b) => a.user.localeCompare(b.user));
}

function publish(ctx: TopicContext, body: Omit<Event, "eventId" | "tenant" | "channel">, eventId: string): void {
  publishEvent(ctx as ActorContext<unknown>, topicChannel(ctx.key), body, eventId);
}
