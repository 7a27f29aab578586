import type { Metadata, ServerWritableStream } from "@grpc/grpc-js";
import { MessagingServiceService, type Event, type MessagingServiceServer, type SubscribeRequest } from "../../protos/index.ts";
import { SwitchboardError, unary, type Logger } from "../../runtime/index.ts";
import type { Destination, Messaging } from "../shared/index.ts";
import type { ApiKeyTable } from "./api-keys.ts";
import { authenticate } from "./authenticate.ts";
import { scopedName } from "./scoped-name.ts";
import { SubscribeStream } from "./subscribe-stream.ts";
import { toTopicOptions, toTopicSettings } from "./topic-options.ts";

export interface MessagingServiceOptions {
  readonly messaging: Messaging;
  /** Whose keys are accepted, and for which tenant. */
  readonly keys: ApiKeyTable;
  readonly logger: Logger;
  /**
   * Events a `Subscribe` stream may hold for a client that reads too slowly; past
   * it the stream ends with RESOURCE_EXHAUSTED (the client resumes with `from_seq`).
   * Default 10,000.
   */
  readonly maxPendingEvents?: number;
}

/** The gRPC messaging API, ready to be added to a server. */
export interface MessagingService {
  readonly definition: typeof MessagingServiceService;
  readonly implementation: MessagingServiceServer;
  /** `Subscribe` streams open now. */
  readonly openStreams: number;
  /**
   * Ends every open `Subscribe` stream with UNAVAILABLE (the node is stopping) and
   * refuses new ones, so a server shutdown does not wait on them. Unary calls are
   * left to the server's own shutdown. Idempotent.
   */
  close(): void;
}

/** Users one `GetPresence` may ask about. */
const maxPresenceUsers = 1000;

/**
 * `switchboard.v1.MessagingService` on top of the messaging API. Every call is
 * authenticated by its API key (metadata `authorization: Bearer <key>`), and the
 * key's tenant is the tenant of everything the call does: names in the request are
 * resolved inside it (`scopedName`), so no request can reach another tenant's users
 * or topics. A missing or unknown key is UNAUTHENTICATED; the reason is logged at
 * debug, the key never.
 */
export function createMessagingService(options: MessagingServiceOptions): MessagingService {
  const { messaging, keys } = options;
  const log = options.logger.child({ component: "grpc-messaging" });
  const maxPendingEvents = options.maxPendingEvents ?? 10_000;
  const onInternal = (err: unknown) => log.error({ err }, "messaging call failed");
  const streams = new Set<SubscribeStream>();
  let closed = false;

  const tenantOf = (call: { readonly metadata: Metadata; getPath(): string; getPeer(): string }): string => {
    const auth = authenticate(keys, call.metadata);
    if (auth.ok) return auth.tenant;
    log.debug({ method: call.getPath(), peer: call.getPeer(), reason: auth.reason }, "call refused: not authenticated");
    throw new SwitchboardError(
      "unauthenticated",
      auth.reason === "no authorization metadata" ? "no API key: send the metadata `authorization: Bearer <api key>`" : "the API key is not valid",
    );
  };

  /** A unary handler that runs with the caller's tenant. */
  const authed = <Req, Res>(fn: (tenant: string, request: Req) => Promise<Res>) => unary<Req, Res>((request, call) => fn(tenantOf(call), request), onInternal);

  const user = (tenant: string, value: string, field: string) => scopedName(tenant, value, field);
  const users = (tenant: string, values: readonly string[], field: string) => values.map((v) => scopedName(tenant, v, field));
  const topic = (tenant: string, value: string) => {
    if (value === "") throw new SwitchboardError("invalid_argument", "topic is required");
    return scopedName(tenant, value, "topic");
  };
  const destination = (tenant: string, req: { user?: string | undefined; topic?: string | undefined }, rpc: string): Destination => {
    if (req.user !== undefined) return { user: user(tenant, req.user, "user") };
    if (req.topic !== undefined) return { topic: topic(tenant, req.topic) };
    throw new SwitchboardError("invalid_argument", `${rpc} needs a destination: set user or topic`);
  };

  const implementation: MessagingServiceServer = {
    send: authed(async (tenant, req) => {
      const to = destination(tenant, req, "Send");
      const from = req.fromUser === "" ? undefined : { user: user(tenant, req.fromUser, "from_user") };
      const r = await messaging.send(tenant, from, to, {
        body: req.body,
        contentType: req.contentType,
        clientMsgId: req.clientMsgId,
        properties: req.properties,
        retain: req.retain,
      });
      return { id: r.id, seq: r.seq, timestampMs: r.timestampMs, duplicate: r.duplicate };
    }),

    getPresence: authed(async (tenant, req) => {
      if (req.users.length > maxPresenceUsers) throw new SwitchboardError("invalid_argument", `at most ${maxPresenceUsers} users per GetPresence, not ${req.users.length}`);
      return { presence: await messaging.presence(tenant, users(tenant, req.users, "users")) };
    }),

    readHistory: authed(async (tenant, req) => {
      const name = topic(tenant, req.topic);
      if (req.limit > 1000) throw new SwitchboardError("invalid_argument", `limit is 1-1000 (0: 50), not ${req.limit}`);
      const asUser = req.asUser === "" ? "" : user(tenant, req.asUser, "as_user");
      const page = { afterSeq: req.afterSeq, beforeSeq: req.beforeSeq, limit: req.limit === 0 ? 50 : req.limit };
      return messaging.history(tenant, name, page, asUser);
    }),

    createTopic: authed(async (tenant, req) => {
      const name = topic(tenant, req.topic);
      const r = await messaging.createTopic(tenant, name, toTopicSettings(req.options), users(tenant, req.owners, "owners"));
      return { options: toTopicOptions(r.settings), created: r.created };
    }),

    updateMembers: authed(async (tenant, req) => {
      const name = topic(tenant, req.topic);
      const role = req.role === "" ? "member" : req.role;
      if (role !== "owner" && role !== "member") throw new SwitchboardError("invalid_argument", `role is owner or member (empty: member), not ${JSON.stringify(req.role)}`);
      const members = await messaging.updateMembers(tenant, name, { add: users(tenant, req.add, "add"), remove: users(tenant, req.remove, "remove"), role });
      return { members };
    }),

    listMembers: authed(async (tenant, req) => ({ members: await messaging.members(tenant, topic(tenant, req.topic)) })),

    subscribe: (call: ServerWritableStream<SubscribeRequest, Event>) => {
      const stream: SubscribeStream = new SubscribeStream(call, { messaging, maxPendingEvents, onInternal, onEnd: () => streams.delete(stream) });
      streams.add(stream);
      let tenant: string;
      let to: Destination;
      let asUser: string;
      try {
        if (closed) throw new SwitchboardError("shutting_down", "the node is stopping; subscribe on another node or try again");
        tenant = tenantOf(call);
        to = destination(tenant, call.request, "Subscribe");
        asUser = call.request.asUser === "" ? "" : user(tenant, call.request.asUser, "as_user");
      } catch (err) {
        stream.end(err);
        return;
      }
      void stream.start(tenant, to, call.request.fromSeq, asUser);
    },
  };

  return {
    definition: MessagingServiceService,
    implementation,
    get openStreams() {
      return streams.size;
    },
    close() {
      closed = true;
      const stopping = new SwitchboardError("shutting_down", "the node is stopping; subscribe again (on another node) with from_seq to resume");
      for (const s of [...streams]) s.end(stopping);
    },
  };
}
