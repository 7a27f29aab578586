import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import mqtt from "mqtt-packet";
import type { IConnectPacket, IDisconnectPacket, IPublishPacket, ISubscribePacket, IUnsubscribePacket, Packet } from "mqtt-packet";
import { clientChannel, topicMatches, type MqttSubscriptionRecord, type WillRecord } from "../../actors/index.ts";
import { Message, QueuedMessage, type Event } from "../../protos/index.ts";
import { isSwitchboardError } from "../../runtime/index.ts";
import { SeqTracker, type ClientConnection, type Delivery, type RouterSubscription } from "../shared/index.ts";
import { FrameGuard } from "./frame-guard.ts";
import type { MqttClientAccess, MqttContext, MqttIdentity } from "./mqtt-context.ts";
import { beginAlone, endAlone, type MqttTransport, type MqttTransportSink } from "./mqtt-transport.ts";
import { encodePublish, propertyList } from "./publish-encoder.ts";
import { connectFault, repeatedProperty, supportedProtocol, topicFilterFault, topicNameFault, zeroPacketId } from "./packet-checks.ts";
import { connectLevel, publishTopicIsUtf8, publishUserProperties, willUserProperties } from "./frame-properties.ts";
import { QueueAcks } from "./queue-acks.ts";
import { readPlainPublish } from "./publish-decoder.ts";
import { ConnackV3, connackV3, Reason } from "./reason-codes.ts";

type Version = 3 | 4 | 5;
type QoS = 0 | 1 | 2;

/** A subscription as this connection applies it. */
interface SubscriptionOptions extends MqttSubscriptionRecord {
  readonly filter: string;
  /** `$share/<group>/…`: one member of the group gets each message. */
  readonly group: string | undefined;
}

/** A message on its way to the client. */
interface Outgoing {
  readonly topic: string;
  readonly message: Message;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[];
  /** Where it came from: a live topic delivery, the session's queue, or the user's inbox. */
  readonly source: "live" | "queue" | "inbox";
  /** The queue's or the inbox's seq. */
  readonly seq: number;
  dup: boolean;
}

interface Inflight {
  readonly out: Outgoing;
  /** Waiting for PUBACK/PUBREC (`publish`), or for PUBCOMP after our PUBREL (`pubrel`). */
  stage: "publish" | "pubrel";
}

/** Packet ids 1..queueIds are the session queue's, derived from its seq (stable across reconnects); the rest are allocated. */
const queueIds = 49_151;
const queueId = (seq: number) => ((seq - 1) % queueIds) + 1;
/** Inbound packets that may wait behind a slow (asynchronous) one before reading pauses. */
const maxWaitingPackets = 256;
/** A client reading this slowly (bytes queued for it) loses QoS 0 messages rather than the node's memory. */
const maxPendingBytes = 8 * 1024 * 1024;

/**
 * One MQTT client connection, 3.1.1 or 5.0: the protocol state machine between its
 * bytes and the messaging API. Inbound packets are handled one at a time in order; a
 * packet whose handling waits (an actor call) holds back the ones after it, so a
 * client's messages keep their order. Spec references are to the MQTT 5.0
 * conformance statements ([MQTT-x.y.z-n]); 3.1.1 has the same ones where noted.
 */
export class MqttConnection implements MqttTransportSink {
  readonly #t: MqttTransport;
  readonly #ctx: MqttContext;
  readonly #guard: FrameGuard;
  /** The frame being parsed. */
  #frame: Buffer | undefined;
  #readAny = false;
  readonly #connectionId = randomUUID();
  #state: "awaiting-connect" | "connecting" | "open" | "closed" = "awaiting-connect";
  #version: Version = 4;
  #id: MqttIdentity | undefined;
  /** Holds one of the gateway's `maxConnections` places. */
  #admitted = false;
  /** The client's access list, from CONNECT on. */
  #access: MqttClientAccess | undefined;
  #client: ClientConnection | undefined;
  #control: RouterSubscription | undefined;
  #persistent = false;
  #expiryMs = 0;
  #keepAliveMs = 0;
  #lastInboundAt = Date.now();
  /** When the connection was made: CONNECT is due within the connect timeout. */
  readonly #openedAt = Date.now();
  // Inbound.
  #waitingList: Packet[] | undefined;
  #busy = false;
  #paused = false;
  /** QoS 1 PUBLISHes received and not yet acknowledged (with `#qos2In`, what the Receive Maximum bounds). */
  #qos1In = 0;
  /** QoS 2 packet ids awaiting PUBREL, for a clean session (a persistent one keeps them in its actor). */
  #qos2InSet: Set<number> | undefined;
  #aliasesInMap: Map<number, string> | undefined;
  #rateWindowStart = 0;
  #rateCount = 0;
  // Outbound.
  #clientReceiveMax = 65_535;
  #clientMaxPacket = Number.MAX_SAFE_INTEGER;
  #clientAliasMax = 0;
  #aliasesOutMap: Map<string, number> | undefined;
  #inflightMap: Map<number, Inflight> | undefined;
  #pendingList: Outgoing[] | undefined;
  #beforeConnackList: Outgoing[] | undefined;
  /** Session queue events heard before the queue reader exists. */
  #earlyQueueList: Event[] | undefined;
  #nextId = queueIds + 1;
  #queue: SeqTracker | undefined;
  #queueAcksState: QueueAcks | undefined;
  /** Queue seqs delivered before this connection took over: sent again with DUP set. */
  #resumedUpTo = 0;
  /** The highest queue seq this connection sent. */
  #sentUpTo = 0;
  #subsMap: Map<string, SubscriptionOptions> | undefined;
  #inboxWanted = false;
  #takenOver = false;
  #willOnClose = true;

  constructor(transport: MqttTransport, ctx: MqttContext) {
    this.#t = transport;
    this.#ctx = ctx;
    this.#guard = new FrameGuard(ctx.limits.maxPacketSize);
    transport.bind(this);
  }

  // Made when first needed: an idle connection has none of them.
  #waiting(): Packet[] {
    return (this.#waitingList ??= []);
  }
  #qos2In(): Set<number> {
    return (this.#qos2InSet ??= new Set());
  }
  #aliasesIn(): Map<number, string> {
    return (this.#aliasesInMap ??= new Map());
  }
  #aliasesOut(): Map<string, number> {
    return (this.#aliasesOutMap ??= new Map());
  }
  #inflight(): Map<number, Inflight> {
    return (this.#inflightMap ??= new Map());
  }
  #pending(): Outgoing[] {
    return (this.#pendingList ??= []);
  }
  #beforeConnack(): Outgoing[] {
    return (this.#beforeConnackList ??= []);
  }
  #earlyQueue(): Event[] {
    return (this.#earlyQueueList ??= []);
  }
  #queueAcks(): QueueAcks {
    return (this.#queueAcksState ??= new QueueAcks());
  }
  #subs(): Map<string, SubscriptionOptions> {
    return (this.#subsMap ??= new Map());
  }

  get identity(): MqttIdentity | undefined {
    return this.#id;
  }

  get version(): Version {
    return this.#version;
  }

  get open(): boolean {
    return this.#state === "open";
  }

  /**
   * The server ends the connection: v5 clients get a DISCONNECT with `reason` (and a
   * Server Reference when moving them elsewhere), 3.1.1 clients a close. The will is
   * sent unless the server is only asking the client to reconnect elsewhere.
   */
  disconnect(reason: number, options: { serverReference?: string; reasonString?: string; sendWill?: boolean } = {}): void {
    if (this.#state === "closed") return;
    if (this.#version === 5 && this.#state === "open") {
      const properties: NonNullable<IDisconnectPacket["properties"]> = {};
      if (options.serverReference) properties.serverReference = options.serverReference;
      if (options.reasonString) properties.reasonString = options.reasonString;
      this.#write({ cmd: "disconnect", reasonCode: reason, properties });
    }
    this.#willOnClose = options.sendWill ?? true;
    void this.#closed(`the server disconnected the client (0x${reason.toString(16)})`, this.#willOnClose);
    this.#t.end();
  }

  // ---- bytes in ----------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (this.#state === "closed") return;
    this.#ctx.metrics.bytesIn += chunk.length;
    // [MQTT-3.1.0-1]: the first packet is CONNECT; anything else is closed on its first byte,
    // not when (if ever) its whole packet has come.
    if (this.#state === "awaiting-connect" && !this.#readAny && chunk[0] >> 4 !== 1) return this.#drop("the first packet is not CONNECT");
    this.#readAny = true;
    const v = this.#guard.push(chunk);
    // [MQTT-3.1.2-22]: keep alive counts Control Packets, not bytes: a client dribbling a packet that never ends times out.
    const frames = v.frames;
    if (frames.length > 0) this.#lastInboundAt = Date.now();
    const alone = frames.length === 1;
    if (alone) beginAlone();
    try {
      for (const frame of frames) {
        if (this.#ended()) return; // a packet before closed the connection
        this.#frame = frame;
        if (!this.#fastPath(frame)) parseFrame(this, frame, this.#version);
      }
    } finally {
      if (alone) endAlone();
      this.#frame = undefined;
    }
    if (v.verdict === "too-large") {
      // [MQTT-3.1.2-24]: a packet over the server's Maximum Packet Size is a Protocol Error; 0x95.
      return this.#protocolError(Reason.packetTooLarge, `a packet of ${v.bytes} bytes is over the maximum of ${this.#ctx.limits.maxPacketSize}`);
    }
    if (v.verdict === "malformed") return this.#protocolError(Reason.malformedPacket, "the remaining length is longer than four bytes");
  }

  #ended(): boolean {
    return this.#state === "closed";
  }

  /**
   * The packets of the hot path are read here: a PUBLISH without properties
   * (publish-decoder.ts), a PINGREQ, and an acknowledgement carrying only its packet
   * identifier (as 3.1.1 always and MQTT 5 on success sends them). mqtt-packet reads
   * everything else. False when the frame is not one of them.
   */
  #fastPath(frame: Buffer): boolean {
    if (this.#state !== "open") return false;
    if ((frame[0]! & 0xf0) === 0x30) {
      const p = readPlainPublish(frame, this.#version);
      if (p === undefined) return false;
      this.onParsed(p);
      return true;
    }
    if (frame.length === 2) {
      if (frame[0] !== 0xc0 || frame[1] !== 0) return false;
      this.#onPacket(pingreqPacket);
      return true;
    }
    if (frame.length !== 4 || frame[1] !== 2) return false;
    const cmd = fixedAcks[frame[0]!];
    if (cmd === undefined) return false;
    this.#onPacket({ cmd, messageId: (frame[2]! << 8) | frame[3]! } as Packet);
    return true;
  }

  /** @internal From the shared parser: a packet of this connection's current frame. */
  onParsed(p: Packet): void {
    if (p.cmd === "publish") {
      // What mqtt-packet loses of a PUBLISH is read from its bytes now, while they are at
      // hand: the packet may wait behind another before it is handled.
      const frame = this.#frame!;
      // mqtt-packet decodes the topic with replacement characters; only then can it be broken.
      if (p.topic.includes("\uFFFD") && !publishTopicIsUtf8(frame)) (p as PublishExtras)[badTopic] = true;
      if (this.#version === 5 && p.properties !== undefined) (p as PublishExtras)[userProps] = publishUserProperties(frame) ?? null;
    }
    this.#onPacket(p);
  }

  /** @internal From the shared parser. */
  onParseError(err: Error): void {
    this.#onParseError(err);
  }

  /** @internal From the transport: bytes from the client. */
  transportData(chunk: Buffer): void {
    this.#onData(chunk);
  }

  /** @internal From the transport: the stream is closed. */
  transportClosed(): void {
    void this.#closed("the connection was closed by the client or the network", true);
  }

  // A connection is its own receiver and listener (methods, not closures made per
  // connection: an idle connection's memory is what a gateway's capacity is made of).

  /** @internal From the router: an event of this client's control channel. */
  receive(e: Event): void {
    this.#onControl(e);
  }

  /** @internal From messaging: a message for one of this connection's subscriptions or its inbox. */
  message(m: Message, d: Delivery): void {
    this.#fromMessaging(m, d);
  }

  /** @internal From messaging: another connection took this one's client id. */
  takenOver(): void {
    this.#takeover();
  }

  #onParseError(err: Error): void {
    if (this.#state === "closed") return;
    if (this.#state === "awaiting-connect") {
      // [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK 0x01 (3.1.1) / 0x84 (above 5), then close.
      if (/protocol version/i.test(err.message)) return this.#refuseVersion(this.#frame === undefined ? 0 : connectLevel(this.#frame), err.message);
      // [MQTT-3.1.0-1], [MQTT-3.1.2-1]: anything else before a valid CONNECT closes the connection.
      return this.#drop(`not a valid CONNECT: ${err.message}`);
    }
    this.#protocolError(Reason.malformedPacket, `malformed packet: ${err.message}`);
  }

  #onPacket(p: Packet): void {
    if (this.#state === "closed") return;
    if (this.#busy || (this.#waitingList !== undefined && this.#waitingList.length > 0)) {
      this.#waiting().push(p);
      if (this.#waiting().length > maxWaitingPackets && !this.#paused) this.#pause(true);
      return;
    }
    this.#run(p);
  }

  #run(p: Packet): void {
    let pending: Promise<void> | void;
    try {
      pending = this.#handle(p);
    } catch (err) {
      return this.#internal(err);
    }
    if (pending === undefined) return;
    this.#busy = true;
    pending.then(
      () => this.#next(),
      (err: unknown) => this.#internal(err),
    );
  }

  #next(): void {
    this.#busy = false;
    const waiting = this.#waitingList;
    while (!this.#busy && waiting !== undefined && waiting.length > 0 && this.#state !== "closed") this.#run(waiting.shift()!);
    if (this.#paused && (waiting?.length ?? 0) < maxWaitingPackets / 2) this.#pause(false);
  }

  #pause(on: boolean): void {
    this.#paused = on;
    this.#t.pause?.(on);
  }

  #handle(p: Packet): Promise<void> | void {
    if (this.#state === "awaiting-connect") {
      if (p.cmd !== "connect") return this.#drop(`the first packet was ${p.cmd}, not CONNECT`); // [MQTT-3.1.0-1]
      return this.#connect(p);
    }
    // [MQTT-2.2.1-3]: PUBLISH (QoS 1, 2), SUBSCRIBE, UNSUBSCRIBE and the acknowledgements need a non-zero Packet Identifier.
    if (zeroPacketId(p)) return this.#protocolError(Reason.protocolError, `${p.cmd} with packet identifier 0`);
    switch (p.cmd) {
      case "publish":
        return this.#publish(p);
      case "puback":
        return this.#acked(p.messageId!, "puback");
      case "pubrec":
        return this.#pubrec(p.messageId!, p.reasonCode ?? 0);
      case "pubcomp":
        return this.#acked(p.messageId!, "pubcomp");
      case "pubrel":
        return this.#pubrel(p.messageId!);
      case "subscribe":
        return this.#subscribe(p);
      case "unsubscribe":
        return this.#unsubscribe(p);
      case "pingreq":
        this.#t.write(pingresp);
        return;
      case "disconnect":
        return this.#clientDisconnect(p);
      case "connect":
        return this.#protocolError(Reason.protocolError, "a second CONNECT"); // [MQTT-3.1.0-2]
      case "auth":
        return this.#protocolError(Reason.protocolError, "AUTH without an authentication method");
      default:
        return this.#protocolError(Reason.protocolError, `a client does not send ${p.cmd}`);
    }
  }

  // ---- CONNECT -----------------------------------------------------------------

  async #connect(p: IConnectPacket): Promise<void> {
    const frame = this.#frame;
    this.#state = "connecting";
    const version = (p.protocolVersion ?? 4) as Version;
    // [MQTT-3.1.2-2]: a level this name does not go with gets return code 0x01, in 3.1.1's form.
    if (!supportedProtocol(p)) return this.#refuseVersion(version, `protocol ${p.protocolId} level ${version}`);
    this.#version = version;
    const fault = connectFault(p);
    // Before CONNACK a fault is answered with a CONNACK in v5 and a close in 3.1.1 (4.13.1).
    if (fault !== undefined) return version === 5 ? this.#refuse(fault.reason, fault.why) : this.#drop(`CONNECT refused: ${fault.why}`);
    const limits = this.#ctx.limits;
    const props = p.properties ?? {};
    if (version === 5 && props.authenticationMethod !== undefined) return this.#refuse(Reason.badAuthenticationMethod, "enhanced authentication is not supported");
    // A place is taken at CONNECT, not at CONNACK: a burst of CONNECTs still waiting for
    // their sessions cannot together go past the limit.
    if (!this.#ctx.admit()) return this.#refuse(version === 5 ? Reason.quotaExceeded : Reason.serverUnavailable, "too many connections");
    this.#admitted = true;
    let clientId = p.clientId ?? "";
    let assigned = false;
    if (clientId === "") {
      // [MQTT-3.1.3-7]/[MQTT-3.1.3-8] (3.1.1): an empty id needs a clean session; v5 assigns one ([MQTT-3.1.3-6]).
      if (version !== 5 && !p.clean) return this.#refuse(Reason.clientIdentifierNotValid, "an empty client id needs a clean session");
      clientId = `auto-${randomUUID()}`;
      assigned = true;
    }
    if (clientId.length > 256 || /[\u0000-\u001f\u007f]/.test(clientId)) return this.#refuse(Reason.clientIdentifierNotValid, "a client id is 1-256 characters without control characters");
    const login = await this.#ctx.authenticate({ clientId, username: p.username, password: p.password, remoteAddress: this.#t.remoteAddress });
    if (this.#state !== "connecting") return;
    if (!login.ok) return this.#refuse(login.reason === "not_authorized" ? Reason.notAuthorized : Reason.badUserNameOrPassword, login.reason);
    const identity: MqttIdentity = { tenant: login.tenant, user: login.user, clientId, anonymous: login.anonymous === true };
    this.#id = identity;
    this.#access = this.#ctx.access.forClient(identity);

    // Keep alive ([MQTT-3.1.2-22]): 1.5 times the interval without a packet closes; v5 may be told a shorter one.
    let keepAlive = p.keepalive ?? 0;
    let serverKeepAlive: number | undefined;
    if (version === 5 && (keepAlive === 0 || keepAlive > limits.maxKeepAliveS) && limits.maxKeepAliveS < 65_535) {
      keepAlive = limits.maxKeepAliveS;
      serverKeepAlive = keepAlive;
    }
    this.#keepAliveMs = keepAlive * 1000;
    // Session expiry: 3.1.1's clean session is 0 or "never"; v5 gives an interval (0xFFFFFFFF never).
    const expiryS = version === 5 ? (props.sessionExpiryInterval ?? 0) : p.clean ? 0 : 0xffffffff;
    this.#expiryMs = expiryS === 0xffffffff ? -1 : expiryS * 1000;
    this.#persistent = this.#expiryMs !== 0;
    if (version === 5) {
      this.#clientReceiveMax = props.receiveMaximum ?? 65_535;
      this.#clientMaxPacket = props.maximumPacketSize ?? Number.MAX_SAFE_INTEGER;
      this.#clientAliasMax = props.topicAliasMaximum ?? 0;
    }
    const will = p.will === undefined ? undefined : this.#will(p.will, version === 5 && frame !== undefined ? willUserProperties(frame) : undefined);
    if (will === null) return;

    // Follow the session's control channel before taking it, so a takeover by a
    // connection that comes a moment later is heard.
    this.#control = this.#ctx.messaging.router.subscribe(identity.tenant, clientChannel(clientId), this);
    const session = this.#ctx.session(identity.tenant, clientId);
    const s = await session.call("connect", {
      connectionId: this.#connectionId,
      node: this.#ctx.nodeId,
      user: identity.user,
      cleanStart: p.clean ?? true,
      expiryMs: this.#expiryMs,
      will,
    });
    if (s.tookOver) this.#ctx.metrics.takeovers++;
    if (!this.#persistent || !s.sessionPresent) await this.#ctx.routes?.removeAll(identity.tenant, clientId);
    this.#client = await this.#ctx.messaging.attach({
      tenant: identity.tenant,
      user: identity.user,
      resource: clientId,
      persistent: this.#persistent,
      expiryMs: this.#expiryMs > 0 ? this.#expiryMs : 0,
      listener: this,
    });
    if (this.#ended()) {
      // Gone while attaching: its close found nothing attached yet, so this detaches it.
      await this.#client.close();
      return;
    }
    for (const [filter, record] of Object.entries(s.subscriptions)) {
      await this.#applySubscription(filter, record);
      if (this.#ended()) return;
    }

    this.#state = "open";
    this.#ctx.metrics.connections++;
    this.#ctx.metrics.connectionsTotal++;
    this.#ctx.live?.add(identity.tenant, clientId, this.#connectionId);
    const connack: Packet = { cmd: "connack", sessionPresent: s.sessionPresent, returnCode: 0, reasonCode: 0 };
    if (version === 5) {
      connack.properties = {
        receiveMaximum: limits.receiveMaximum,
        maximumPacketSize: limits.maxPacketSize,
        topicAliasMaximum: limits.topicAliasMaximum,
        retainAvailable: true,
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: true,
        sharedSubscriptionAvailable: true,
      };
      if (assigned) connack.properties.assignedClientIdentifier = clientId;
      if (serverKeepAlive !== undefined) connack.properties.serverKeepAlive = serverKeepAlive;
    }
    this.#write(connack);
    const waitingOut = this.#beforeConnackList;
    this.#beforeConnackList = undefined;
    for (const out of waitingOut ?? []) this.#send(out);

    // The session's state in flight ([MQTT-4.4.0-1]): PUBRELs to send again, then the
    // queue from the last acknowledgement, the unacknowledged part with DUP set.
    for (const id of s.pubrel) {
      this.#inflight().set(id, { out: { topic: "", message: Message.fromPartial({}), qos: 2, retain: false, subscriptionIds: [], source: "queue", seq: 0, dup: true }, stage: "pubrel" });
      this.#write({ cmd: "pubrel", messageId: id });
    }
    if (this.#persistent) {
      for (const id of s.inboundQos2) this.#qos2In().add(id);
      this.#resumedUpTo = s.sessionPresent ? s.sentUpTo : 0;
      this.#queue = new SeqTracker({
        cursor: s.resumeFrom - 1,
        fetch: async (from) => {
          const r = await session.call("fetch", { fromSeq: from, limit: 200 });
          const messages = r.queued.map((q: unknown) => {
            const decoded = QueuedMessage.fromJSON(q);
            const m = decoded.message!;
            queuedBy.set(m, decoded);
            return m;
          });
          return { messages, lastSeq: r.lastSeq };
        },
        deliver: (m) => this.#fromQueue(queuedBy.get(m) ?? { message: m, qos: 1, subscriptionIds: [], retain: false }),
        onError: (err) => this.#ctx.logger.warn({ err, clientId }, "session queue fetch failed; retrying"),
      });
      this.#queue.head(s.lastSeq);
      for (const e of this.#earlyQueueList ?? []) this.#onControl(e);
    }
    this.#earlyQueueList = undefined;
  }

  /** The will as the session keeps it; null when the CONNECT is refused for it. */
  #will(w: NonNullable<IConnectPacket["will"]>, orderedUserProperties: { name: string; value: string }[] | undefined): WillRecord | undefined | null {
    const topic = w.topic;
    const fault = topicNameFault(topic);
    if (fault !== undefined) {
      this.#refuse(Reason.topicNameInvalid, `the will topic: ${fault}`);
      return null;
    }
    if (!this.#access!.canPublish(topic)) {
      this.#refuse(Reason.notAuthorized, "the will topic is not allowed");
      return null;
    }
    const props = w.properties ?? {};
    const payload = typeof w.payload === "string" ? Buffer.from(w.payload) : w.payload;
    if (props.payloadFormatIndicator && !isUtf8(payload)) {
      this.#refuse(Reason.payloadFormatInvalid, "the will payload is not UTF-8");
      return null;
    }
    const message: Message = {
      ...this.#message(topic, payload, (w.qos ?? 0) as QoS, w.retain ?? false, props, orderedUserProperties ?? propertyList(props.userProperties)),
      expiresAtMs: 0,
    };
    return { message: Message.toJSON(message), delayMs: (props.willDelayInterval ?? 0) * 1000, expiryMs: (props.messageExpiryInterval ?? 0) * 1000 };
  }

  /** CONNACK 0x01 (unacceptable protocol version) in 3.1.1's form, which a client of any version reads, then close. */
  #refuseVersion(level: number, why: string): void {
    this.#ctx.metrics.connectionsRefused++;
    // A level above 5 is answered as MQTT 5 answers ([MQTT-3.1.2-2] of 5.0: 0x84), any other as
    // 3.1.1 does ([MQTT-3.1.2-2] of 3.1.1: return code 0x01), which a 3.1 client reads too.
    const connack: Packet = level > 5 ? { cmd: "connack", reasonCode: Reason.unsupportedProtocolVersion, sessionPresent: false } : { cmd: "connack", returnCode: ConnackV3.unacceptableProtocolVersion, sessionPresent: false };
    this.#t.write(mqtt.generate(connack, { protocolVersion: level > 5 ? 5 : 4 }));
    this.#drop(`unsupported protocol: ${why}`);
  }

  #refuse(reason: number, why: string): void {
    this.#ctx.metrics.connectionsRefused++;
    const packet: Packet = this.#version === 5 ? { cmd: "connack", sessionPresent: false, reasonCode: reason } : { cmd: "connack", sessionPresent: false, returnCode: connackV3(reason) };
    this.#t.write(mqtt.generate(packet, { protocolVersion: this.#version }));
    this.#drop(`CONNECT refused: ${why}`);
  }

  // ---- PUBLISH in --------------------------------------------------------------

  #publish(p: IPublishPacket): Promise<void> | void {
    const m = this.#ctx.metrics;
    m.messagesIn++;
    const qos = p.qos;
    const props = p.properties;
    // [MQTT-3.3.1-2]: DUP is 0 on a QoS 0 message; [MQTT-1.5.4-1]: a topic that is not UTF-8 is malformed.
    if (qos === 0 && p.dup) return this.#protocolError(Reason.malformedPacket, "DUP set on a QoS 0 PUBLISH");
    const extras = p as PublishExtras;
    if (extras[badTopic]) return this.#protocolError(Reason.malformedPacket, "a topic name that is not UTF-8");
    if (props !== undefined) {
      // Read again from the bytes (onParsed): their order (userPropertiesOf), and whether they fit their length (1.5.7).
      if (extras[userProps] === null) return this.#protocolError(Reason.malformedPacket, "a property runs past the property length");
      // [MQTT-3.3.4-6]: a client does not send a Subscription Identifier; 2.2.2.2: no property twice but User Property.
      if (props.subscriptionIdentifier !== undefined) return this.#protocolError(Reason.protocolError, "a PUBLISH from a client with a subscription identifier");
      const repeated = repeatedProperty(props);
      if (repeated !== undefined) return this.#protocolError(Reason.protocolError, `the ${repeated} property more than once`);
      // [MQTT-3.3.2-14]: the Response Topic is a topic name, without wildcards.
      if (props.responseTopic !== undefined && topicNameFault(props.responseTopic) !== undefined) return this.#protocolError(Reason.protocolError, "the response topic is not a topic name");
    }
    let topic = p.topic;
    if (this.#version === 5 && props?.topicAlias !== undefined) {
      // [MQTT-3.3.2-8]..[MQTT-3.3.2-10]: an alias of 0 or above the maximum is 0x94.
      const alias = props.topicAlias;
      if (alias === 0 || alias > this.#ctx.limits.topicAliasMaximum) return this.#protocolError(Reason.topicAliasInvalid, `topic alias ${alias} is out of range`);
      if (topic === "") {
        const known = this.#aliasesIn().get(alias);
        if (known === undefined) return this.#protocolError(Reason.protocolError, `topic alias ${alias} is not set`);
        topic = known;
      } else this.#aliasesIn().set(alias, topic);
    }
    // 3.3.2.3.4: a zero-length topic without a topic alias is a protocol error.
    if (topic === "") return this.#protocolError(Reason.protocolError, "a PUBLISH without a topic name or alias");
    const fault = topicNameFault(topic);
    if (fault !== undefined) return this.#protocolError(Reason.topicNameInvalid, fault); // [MQTT-3.3.2-2]
    if (qos > 0) {
      // [MQTT-3.3.4-7]..: more QoS 1/2 PUBLISHes unacknowledged than the Receive Maximum is 0x93.
      if (this.#version === 5 && this.#qos1In + (this.#qos2InSet?.size ?? 0) >= this.#ctx.limits.receiveMaximum && !(qos === 2 && this.#qos2InSet?.has(p.messageId!))) {
        return this.#protocolError(Reason.receiveMaximumExceeded, "more unacknowledged QoS 1/2 messages than the receive maximum");
      }
    }
    const limit = this.#ctx.limits.maxPublishRatePerClient;
    if (limit > 0) {
      const now = Date.now();
      if (now - this.#rateWindowStart >= 1000) (this.#rateWindowStart = now), (this.#rateCount = 0);
      if (++this.#rateCount > limit) return this.#protocolError(Reason.messageRateTooHigh, `more than ${limit} messages a second`);
    }
    // From here every QoS 1 PUBLISH ends in #ackPublish.
    if (qos === 1) this.#qos1In++;
    const payload = typeof p.payload === "string" ? Buffer.from(p.payload) : p.payload;
    if (props?.payloadFormatIndicator && !isUtf8(payload)) return this.#ackPublish(p, Reason.payloadFormatInvalid); // [MQTT-3.3.2-4]
    if (!topic.startsWith("$user/")) {
      if (topic.startsWith("$SYS/") || topic === "$SYS" || topic.startsWith("$share/")) return this.#ackPublish(p, Reason.topicNameInvalid);
      if (!this.#access!.canPublish(topic)) return this.#ackPublish(p, Reason.notAuthorized);
    }
    if (qos === 2) return this.#publishQos2(p, topic, payload);
    return this.#route(p, topic, payload);
  }

  /** To a user's inbox (`$user/<name>`) or to a topic. */
  #route(p: IPublishPacket, topic: string, payload: Buffer): Promise<void> | void {
    return topic.startsWith("$user/") ? this.#publishToUser(p, topic.slice(6), payload) : this.#deliver(p, topic, payload);
  }

  /** Publishes, then acknowledges; synchronous when nothing needs an actor. */
  #deliver(p: IPublishPacket, topic: string, payload: Buffer): Promise<void> | void {
    const who = this.#id!;
    const messaging = this.#ctx.messaging;
    const message = this.#message(topic, payload, p.qos, p.retain, p.properties ?? {}, userPropertiesOf(p));
    const managed = messaging.registry.isManagedNow(who.tenant, topic);
    if (managed === false && !p.retain && (p.qos === 0 || this.#ctx.routes === undefined || this.#ctx.routes.match(who.tenant, topic, message).length === 0)) {
      // The hot path: to the subscribers now, and acknowledged.
      const channel = `topic:${topic}`;
      message.toTopic = topic;
      messaging.router.publish(who.tenant, channel, { eventId: message.id, tenant: who.tenant, channel, message });
      this.#ackPublish(p, Reason.success);
      return;
    }
    return this.#deliverAsync(p, topic, message, managed);
  }

  async #deliverAsync(p: IPublishPacket, topic: string, message: Message, managed: boolean | undefined): Promise<void> {
    const who = this.#id!;
    const messaging = this.#ctx.messaging;
    try {
      if (managed ?? (await messaging.registry.isManaged(who.tenant, topic))) {
        await messaging.topic(who.tenant, topic).call("post", { message: Message.toJSON(message) });
      } else {
        await messaging.publishPlain(who.tenant, topic, message);
      }
    } catch (err) {
      // invalid_argument: a topic the core cannot keep (a retained message's topic is bounded by an actor key).
      this.#ackPublish(p, isSwitchboardError(err, "permission_denied") ? Reason.notAuthorized : isSwitchboardError(err, "limit_exceeded") ? Reason.quotaExceeded : isSwitchboardError(err, "invalid_argument") ? Reason.topicNameInvalid : Reason.unspecifiedError);
      if (!isSwitchboardError(err, "permission_denied") && !isSwitchboardError(err, "invalid_argument")) this.#ctx.logger.warn({ err, topic }, "a PUBLISH was not delivered");
      return;
    }
    this.#ackPublish(p, Reason.success);
  }

  /** `$user/<name>`: to that user's inbox (the messaging core's 1:1 message). */
  async #publishToUser(p: IPublishPacket, user: string, payload: Buffer): Promise<void> {
    const who = this.#id!;
    try {
      const props = p.properties ?? {};
      await this.#client!.send({ user }, {
        body: payload,
        contentType: props.contentType,
        properties: userPropertiesOf(p),
        responseTopic: props.responseTopic,
        correlationData: props.correlationData,
        bodyUtf8: props.payloadFormatIndicator,
        qos: p.qos,
      });
      this.#ackPublish(p, Reason.success);
    } catch (err) {
      this.#ackPublish(p, isSwitchboardError(err, "invalid_argument") ? Reason.topicNameInvalid : isSwitchboardError(err, "limit_exceeded") ? Reason.quotaExceeded : Reason.unspecifiedError);
      if (!isSwitchboardError(err, "invalid_argument")) this.#ctx.logger.warn({ err, clientId: who.clientId }, "a message to a user was not delivered");
    }
  }

  /**
   * QoS 2 in: delivered once, on the first PUBLISH of a packet id; a repeat before
   * PUBREL only gets its PUBREC again ([MQTT-4.3.3-9], method B of 4.3.3). A persistent
   * session records the id in its actor first, so a takeover keeps it.
   */
  async #publishQos2(p: IPublishPacket, topic: string, payload: Buffer): Promise<void> {
    const id = p.messageId!;
    let duplicate = this.#qos2InSet?.has(id) ?? false;
    if (!duplicate && this.#persistent) {
      const r = await this.#ctx.session(this.#id!.tenant, this.#id!.clientId).call("qos2", { connectionId: this.#connectionId, packetId: id, op: "received" });
      duplicate = r.duplicate;
    }
    if (duplicate) {
      this.#ack(0x50, id);
      return;
    }
    this.#qos2In().add(id);
    await this.#route(p, topic, payload);
  }

  #ackPublish(p: IPublishPacket, reason: number): void {
    if (p.qos === 0) return;
    const v5 = this.#version === 5;
    if (p.qos === 1) {
      this.#qos1In = Math.max(0, this.#qos1In - 1);
      // 3.1.1 has no reason codes: a refused message is acknowledged all the same.
      if (v5 && reason !== 0) this.#write({ cmd: "puback", messageId: p.messageId!, reasonCode: reason });
      else this.#ack(0x40, p.messageId!);
      return;
    }
    if (reason >= 0x80 && this.#qos2In().delete(p.messageId!) && this.#persistent) {
      // [MQTT-4.3.3-4]: a PUBREC with an error ends the exchange; the id may carry a new message.
      this.#ctx.session(this.#id!.tenant, this.#id!.clientId).call("qos2", { connectionId: this.#connectionId, packetId: p.messageId!, op: "released" }).catch(() => undefined);
    }
    if (v5 && reason !== 0) this.#write({ cmd: "pubrec", messageId: p.messageId!, reasonCode: reason });
    else this.#ack(0x50, p.messageId!);
  }

  /**
   * An acknowledgement with nothing but its packet identifier (3.1.1's only form, and
   * MQTT 5's on success: 3.4.2.1), written as its four bytes.
   */
  #ack(firstByte: 0x40 | 0x50 | 0x62 | 0x70, id: number): void {
    if (this.#state === "closed") return;
    const b = Buffer.allocUnsafe(4);
    b[0] = firstByte;
    b[1] = 2;
    b[2] = id >> 8;
    b[3] = id & 0xff;
    this.#ctx.metrics.bytesOut += 4;
    this.#t.write(b);
  }

  /** PUBREL: the client's QoS 2 message is complete ([MQTT-4.3.3-11]). */
  #pubrel(id: number): Promise<void> | void {
    const known = this.#qos2InSet?.delete(id) ?? false;
    const done = () => (known || this.#version !== 5 ? this.#ack(0x70, id) : this.#write({ cmd: "pubcomp", messageId: id, reasonCode: Reason.packetIdentifierNotFound }));
    if (!this.#persistent) return done();
    return this.#ctx
      .session(this.#id!.tenant, this.#id!.clientId)
      .call("qos2", { connectionId: this.#connectionId, packetId: id, op: "released" })
      .then(done);
  }

  #message(topic: string, payload: Buffer, qos: QoS, retain: boolean, props: NonNullable<IPublishPacket["properties"]>, userProperties = propertyList(props.userProperties)): Message {
    const who = this.#id!;
    const expiry = props.messageExpiryInterval;
    return {
      id: randomUUID(),
      tenant: who.tenant,
      fromUser: who.user,
      fromResource: who.clientId,
      toUser: undefined,
      toTopic: topic,
      seq: 0,
      timestampMs: Date.now(),
      body: payload,
      contentType: props.contentType ?? "",
      clientMsgId: "",
      properties: userProperties,
      expiresAtMs: expiry === undefined || expiry === 0 ? 0 : Date.now() + expiry * 1000,
      responseTopic: props.responseTopic ?? "",
      correlationData: props.correlationData ?? emptyBytes,
      bodyUtf8: props.payloadFormatIndicator ?? false,
      qos,
      retain,
    };
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE -----------------------------------------------

  async #subscribe(p: ISubscribePacket): Promise<void> {
    const who = this.#id!;
    const v5 = this.#version === 5;
    const repeated = repeatedProperty(p.properties ?? {});
    if (repeated !== undefined) return this.#protocolError(Reason.protocolError, `the ${repeated} property more than once`);
    // [MQTT-3.8.3-2] (3.1.1 [MQTT-3.8.3-3]): at least one filter.
    if (p.subscriptions.length === 0) return this.#protocolError(Reason.protocolError, "a SUBSCRIBE without a topic filter");
    const id = p.properties?.subscriptionIdentifier ?? 0;
    // 3.8.2.1.2: a Subscription Identifier of 0 is a protocol error.
    if (p.properties?.subscriptionIdentifier === 0) return this.#protocolError(Reason.protocolError, "a subscription identifier of 0");
    const granted: number[] = [];
    const retained: [string, SubscriptionOptions, boolean][] = [];
    const stored: Record<string, MqttSubscriptionRecord> = {};
    for (const s of p.subscriptions) {
      const requested = s.qos;
      let filter = s.topic;
      let group: string | undefined;
      if (filter.startsWith("$share/")) {
        // [MQTT-4.8.2-1], [MQTT-4.8.2-2]: `$share/<group>/<filter>`, a group name without / + #.
        const rest = filter.slice(7);
        const slash = rest.indexOf("/");
        group = slash < 0 ? "" : rest.slice(0, slash);
        filter = slash < 0 ? "" : rest.slice(slash + 1);
        if (group === "" || group.includes("+") || group.includes("#") || filter === "") {
          granted.push(v5 ? Reason.topicFilterInvalid : 0x80);
          continue;
        }
        if (s.nl) return this.#protocolError(Reason.protocolError, "No Local on a shared subscription"); // [MQTT-3.8.3-4]
      }
      if (topicFilterFault(filter) !== undefined) {
        granted.push(v5 ? Reason.topicFilterInvalid : 0x80);
        continue;
      }
      if (filter.startsWith("$user/")) {
        if (filter !== `$user/${who.user}`) {
          granted.push(v5 ? Reason.notAuthorized : 0x80);
          continue;
        }
      } else if (!this.#access!.canSubscribe(s.topic)) {
        granted.push(v5 ? Reason.notAuthorized : 0x80);
        continue;
      }
      const key = s.topic;
      const existed = this.#subs().has(key);
      if (!existed && this.#subs().size >= this.#ctx.limits.maxSubscriptionsPerClient) {
        granted.push(v5 ? Reason.quotaExceeded : 0x80);
        continue;
      }
      const record: MqttSubscriptionRecord = { qos: requested, nl: s.nl ?? false, rap: s.rap ?? false, rh: (s.rh ?? 0) as 0 | 1 | 2, id };
      try {
        await this.#applySubscription(key, record);
      } catch (err) {
        granted.push(v5 ? (isSwitchboardError(err, "permission_denied") ? Reason.notAuthorized : Reason.unspecifiedError) : 0x80);
        continue;
      }
      stored[key] = record;
      granted.push(requested);
      const opts = this.#subs().get(key)!;
      if (group === undefined && !filter.startsWith("$user/") && (record.rh === 0 || (record.rh === 1 && !existed))) retained.push([filter, opts, existed]);
    }
    if (this.#persistent && Object.keys(stored).length > 0) {
      await this.#ctx.session(who.tenant, who.clientId).call("subscribe", { connectionId: this.#connectionId, subscriptions: stored });
    }
    this.#write({ cmd: "suback", messageId: p.messageId!, granted });
    // [MQTT-3.3.1-6], [MQTT-3.3.1-8]: retained messages follow the SUBACK, with RETAIN set.
    for (const [filter, opts] of retained) {
      let messages: Message[];
      try {
        messages = await this.#ctx.messaging.retained(who.tenant, filter, who.user);
      } catch (err) {
        this.#ctx.logger.warn({ err, filter }, "retained messages not read");
        continue;
      }
      for (const message of messages) {
        const qos = Math.min(message.qos, opts.qos) as QoS;
        this.#send({ topic: message.toTopic!, message, qos, retain: true, subscriptionIds: opts.id > 0 ? [opts.id] : [], source: "live", seq: 0, dup: false });
      }
    }
  }

  /** Takes a subscription into effect on this node (and, for a persistent session, its durable route). */
  async #applySubscription(key: string, record: MqttSubscriptionRecord): Promise<void> {
    const who = this.#id!;
    let filter = key;
    let group: string | undefined;
    if (key.startsWith("$share/")) {
      const rest = key.slice(7);
      const slash = rest.indexOf("/");
      group = rest.slice(0, slash);
      filter = rest.slice(slash + 1);
    }
    const options: SubscriptionOptions = { ...record, filter, group };
    this.#subs().set(key, options);
    if (filter.startsWith("$user/")) {
      const wasWanted = this.#inboxWanted;
      this.#inboxWanted = true;
      if (!wasWanted) this.#client!.replayInbox();
      return;
    }
    if (group !== undefined) {
      await this.#client!.subscribeShared(group, filter, options);
      return;
    }
    await this.#client!.subscribe(filter, options);
    const routes = this.#ctx.routes;
    if (this.#persistent && routes !== undefined) {
      if (record.qos > 0) await routes.add({ tenant: who.tenant, clientId: who.clientId, filter, qos: record.qos as 1 | 2, id: record.id, nl: record.nl, rap: record.rap });
      else await routes.remove(who.tenant, who.clientId, filter);
    }
  }

  async #unsubscribe(p: IUnsubscribePacket): Promise<void> {
    // [MQTT-3.10.3-2]: at least one filter.
    if (p.unsubscriptions.length === 0) return this.#protocolError(Reason.protocolError, "an UNSUBSCRIBE without a topic filter");
    const who = this.#id!;
    const codes: number[] = [];
    const removed: string[] = [];
    for (const key of p.unsubscriptions) {
      const opts = this.#subs().get(key);
      if (opts === undefined) {
        codes.push(Reason.noSubscriptionExisted);
        continue;
      }
      this.#subs().delete(key);
      removed.push(key);
      if (opts.filter.startsWith("$user/")) this.#inboxWanted = false;
      else if (opts.group !== undefined) this.#client!.unsubscribeShared(opts.group, opts.filter);
      else {
        this.#client!.unsubscribe(opts.filter);
        if (this.#persistent) await this.#ctx.routes?.remove(who.tenant, who.clientId, opts.filter);
      }
      codes.push(Reason.success);
    }
    if (this.#persistent && removed.length > 0) await this.#ctx.session(who.tenant, who.clientId).call("unsubscribe", { connectionId: this.#connectionId, filters: removed });
    // [MQTT-3.10.4-4]: UNSUBACK even when nothing was subscribed; v5 says which.
    this.#write(this.#version === 5 ? { cmd: "unsuback", messageId: p.messageId!, granted: codes } : { cmd: "unsuback", messageId: p.messageId!, granted: [] });
  }

  // ---- messages out ------------------------------------------------------------

  /** From the messaging API: a topic message matched by subscriptions, or an inbox message. */
  #fromMessaging(message: Message, d: Delivery): void {
    if (this.#state !== "open" && this.#state !== "connecting") return;
    if (d.kind === "inbox") {
      if (!this.#inboxWanted) return;
      const sub = this.#subs().get(`$user/${this.#id!.user}`);
      const qos = Math.min(1, sub?.qos ?? 0) as QoS;
      this.#send({ topic: `$user/${this.#id!.user}`, message, qos, retain: false, subscriptionIds: sub && sub.id > 0 ? [sub.id] : [], source: "inbox", seq: message.seq, dup: false });
      if (qos === 0) this.#client!.ack(message.seq);
      return;
    }
    if (this.#access!.checksDelivery && !this.#access!.canReceive(message.toTopic!)) return;
    let qos = -1;
    let retain = false;
    let ids: number[] | undefined;
    const own = message.fromResource === this.#id!.clientId && message.fromUser === this.#id!.user;
    const subs = d.subscriptions as readonly SubscriptionOptions[];
    // A persistent session's QoS 1/2 messages come through its queue, in order, at the
    // highest QoS of its matching subscriptions (DurableRoutes.match folds them), with
    // the identifiers of the QoS 0 ones added there: nothing of it goes live, or a
    // QoS 0 subscription overlapping a QoS 1 one would deliver it twice ([MQTT-3.3.5-1]).
    if (this.#persistent && this.#ctx.routes !== undefined && message.qos > 0 && subs.some((o) => o.group === undefined && o.qos > 0 && !(o.nl && own))) return;
    for (const o of subs) {
      // [MQTT-3.8.3-3]: No Local skips what this client published itself.
      if (o.nl && own) continue;
      const q = Math.min(o.qos, message.qos);
      if (q > qos) qos = q;
      // [MQTT-3.3.1-12], [MQTT-3.3.1-13]: RETAIN is cleared on forwarding unless Retain As Published.
      if (o.rap && message.retain && this.#version === 5) retain = true;
      if (o.id > 0) (ids ??= []).push(o.id);
    }
    if (qos < 0) return;
    this.#send({ topic: message.toTopic!, message, qos: qos as QoS, retain, subscriptionIds: ids ?? [], source: "live", seq: 0, dup: false });
  }

  #fromQueue(q: QueuedMessage): void {
    const m = q.message!;
    const seq = m.seq;
    this.#queueAcks().sent(seq);
    if (this.#access!.checksDelivery && !this.#access!.canReceive(m.toTopic!)) return this.#ackQueue(seq);
    if (q.qos === 2 && this.#inflight().get(queueId(seq))?.stage === "pubrel") {
      // The client had it (PUBREC) before it reconnected: only the PUBREL, sent again, is due ([MQTT-4.4.0-1]).
      this.#settleAcked({ topic: m.toTopic!, message: m, qos: 2, retain: false, subscriptionIds: [], source: "queue", seq, dup: true });
      return;
    }
    // The queue knows the QoS 1/2 subscriptions that matched; the QoS 0 ones it overlapped add their identifiers ([MQTT-3.3.4-3]).
    let ids = q.subscriptionIds;
    let retain = q.retain;
    const own = m.fromResource === this.#id!.clientId && m.fromUser === this.#id!.user;
    for (const o of this.#subs().values()) {
      if (o.qos !== 0 || o.group !== undefined || (o.nl && own) || o.filter.startsWith("$user/") || !topicMatches(o.filter, m.toTopic!)) continue;
      if (o.id > 0 && !ids.includes(o.id)) ids = [...ids, o.id];
      if (o.rap && m.retain && this.#version === 5) retain = true;
    }
    this.#send({ topic: m.toTopic!, message: m, qos: q.qos as QoS, retain, subscriptionIds: ids, source: "queue", seq, dup: seq <= this.#resumedUpTo });
  }

  #onControl(e: Event): void {
    if (e.takeover !== undefined && e.takeover.connectionId !== this.#connectionId) return this.#takeover();
    if (this.#queue === undefined) {
      // Queued while the connection is still being set up: offered once its queue reader exists.
      if ((e.queued !== undefined || e.head !== undefined) && this.#state === "connecting") this.#earlyQueue().push(e);
      return;
    }
    if (e.queued !== undefined) {
      const q = e.queued;
      const m = q.message!;
      queuedBy.set(m, q);
      this.#queue?.offer(m);
    } else if (e.head !== undefined) this.#queue?.head(e.head.seq);
  }

  #takeover(): void {
    if (this.#takenOver || this.#state === "closed") return;
    this.#takenOver = true;
    // [MQTT-3.1.4-3]: the existing connection is closed; v5 says why (0x8E). Its will is
    // the session's business: the new connection's session decides.
    this.disconnect(Reason.sessionTakenOver, { sendWill: false });
  }

  #send(out: Outgoing): void {
    if (this.#state === "connecting") {
      // [MQTT-3.2.0-1]: nothing but CONNACK before CONNACK. What a resumed subscription or
      // the inbox brings meanwhile waits for it.
      this.#beforeConnack().push(out);
      return;
    }
    const m = out.message;
    if (m.expiresAtMs !== 0 && m.expiresAtMs <= Date.now()) {
      // [MQTT-3.3.2-5]: an expired message is not delivered.
      this.#ctx.metrics.dropped++;
      this.#settleDropped(out);
      return;
    }
    if (out.qos === 0) {
      if (this.#t.pendingBytes > maxPendingBytes) {
        this.#ctx.metrics.dropped++;
        return;
      }
      this.#writePublish(out, 0);
      return;
    }
    if ((this.#inflightMap?.size ?? 0) < Math.min(this.#clientReceiveMax, this.#ctx.limits.maxInflight)) {
      this.#transmit(out);
      return;
    }
    if (out.source === "live" && this.#pending().length >= this.#ctx.limits.maxQueuedMessages) {
      this.#ctx.metrics.dropped++;
      if (this.#ctx.limits.queuePolicy === "drop-new") return;
      this.#pending().shift();
    }
    this.#pending().push(out);
  }

  #transmit(out: Outgoing): void {
    const id = out.source === "queue" ? queueId(out.seq) : this.#allocateId();
    if (out.source === "queue" && out.seq > this.#sentUpTo) this.#sentUpTo = out.seq;
    this.#inflight().set(id, { out, stage: "publish" });
    if (!this.#writePublish(out, id)) {
      // Too large for the client: not sent ([MQTT-3.1.2-25]), and settled as if acknowledged.
      this.#inflight().delete(id);
      this.#settleDropped(out);
    }
  }

  #allocateId(): number {
    for (let n = 0; n < 65_535 - queueIds; n++) {
      const id = this.#nextId;
      this.#nextId = this.#nextId >= 65_535 ? queueIds + 1 : this.#nextId + 1;
      if (!this.#inflight().has(id)) return id;
    }
    throw new Error("no free packet identifier");
  }

  /** Writes a PUBLISH; false when it is over the client's Maximum Packet Size. */
  #writePublish(out: Outgoing, packetId: number): boolean {
    const v5 = this.#version === 5;
    let alias = 0;
    let aliasKnown = false;
    if (v5 && this.#clientAliasMax > 0) {
      const known = this.#aliasesOut().get(out.topic);
      if (known !== undefined) (alias = known), (aliasKnown = true);
      else if (this.#aliasesOut().size < this.#clientAliasMax) this.#aliasesOut().set(out.topic, (alias = this.#aliasesOut().size + 1));
    }
    const m = out.message;
    // [MQTT-3.3.2-6]: the expiry sent on is what is left of it.
    const expirySeconds = v5 && m.expiresAtMs !== 0 ? Math.max(1, Math.ceil((m.expiresAtMs - Date.now()) / 1000)) : 0;
    let bytes: Buffer | undefined;
    try {
      bytes = encodePublish(out.topic, m, { version: this.#version, qos: out.qos, retain: out.retain, dup: out.dup, packetId, subscriptionIds: v5 ? out.subscriptionIds : [], topicAlias: alias, aliasKnown, expirySeconds });
    } catch (err) {
      this.#ctx.logger.warn({ err, topic: out.topic }, "a message MQTT cannot carry was not sent");
    }
    if (bytes === undefined || bytes.length > this.#clientMaxPacket) {
      if (alias > 0 && !aliasKnown) this.#aliasesOut().delete(out.topic);
      this.#ctx.metrics.dropped++;
      return false;
    }
    this.#ctx.metrics.messagesOut++;
    this.#ctx.metrics.bytesOut += bytes.length;
    this.#t.write(bytes);
    return true;
  }

  /** A message that will never be acknowledged by the client: its source moves on. */
  #settleDropped(out: Outgoing): void {
    if (out.source === "queue") this.#ackQueue(out.seq);
    else if (out.source === "inbox") this.#client?.ack(out.seq);
  }

  /** PUBACK, or PUBCOMP after our PUBREL. */
  #acked(id: number, kind: "puback" | "pubcomp"): Promise<void> | void {
    const f = this.#inflightMap?.get(id);
    if (f === undefined || (kind === "puback" && (f.out.qos !== 1 || f.stage !== "publish")) || (kind === "pubcomp" && f.stage !== "pubrel")) return; // an unknown id is ignored
    this.#inflight().delete(id);
    if (kind === "puback") this.#settleAcked(f.out);
    this.#pump();
    if (kind === "pubcomp" && this.#persistent) {
      return this.#ctx.session(this.#id!.tenant, this.#id!.clientId).call("pubrel", { packetId: id, op: "remove" }).then(() => undefined);
    }
  }

  /** PUBREC for our QoS 2 message: the client has it; we release it. */
  #pubrec(id: number, reasonCode: number): Promise<void> | void {
    const f = this.#inflight().get(id);
    if (f === undefined || f.out.qos !== 2 || f.stage !== "publish") {
      if (this.#version === 5) this.#write({ cmd: "pubrel", messageId: id, reasonCode: Reason.packetIdentifierNotFound });
      return;
    }
    this.#settleAcked(f.out);
    if (reasonCode >= 0x80) {
      // [MQTT-4.3.3-4]: a PUBREC with an error ends the exchange.
      this.#inflight().delete(id);
      this.#pump();
      return;
    }
    f.stage = "pubrel";
    const release = () => this.#ack(0x62, id);
    if (!this.#persistent) return release();
    return this.#ctx.session(this.#id!.tenant, this.#id!.clientId).call("pubrel", { packetId: id, op: "add" }).then(release);
  }

  #settleAcked(out: Outgoing): void {
    if (out.source === "queue") this.#ackQueue(out.seq);
    else if (out.source === "inbox") this.#client?.ack(out.seq);
  }

  /** The session's queue moves on only over what is settled before it (see QueueAcks). */
  #ackQueue(seq: number): void {
    const upTo = this.#queueAcks().settle(seq);
    if (upTo === undefined) return;
    this.#ctx.session(this.#id!.tenant, this.#id!.clientId).call("ack", { seq: upTo, sent: this.#sentUpTo }).catch((err: unknown) => this.#ctx.logger.warn({ err }, "queue acknowledgement not recorded"));
  }

  #pump(): void {
    const window = Math.min(this.#clientReceiveMax, this.#ctx.limits.maxInflight);
    const pending = this.#pendingList;
    if (pending === undefined) return;
    while (pending.length > 0 && this.#inflight().size < window) this.#transmit(pending.shift()!);
  }

  // ---- the end -----------------------------------------------------------------

  #clientDisconnect(p: IDisconnectPacket): void {
    const expiry = p.properties?.sessionExpiryInterval;
    if (expiry !== undefined && this.#expiryMs === 0 && expiry !== 0) {
      // [MQTT-3.14.2-2]: a session that was to end with its connection cannot be extended at DISCONNECT.
      return this.#protocolError(Reason.protocolError, "a session expiry interval at DISCONNECT after 0 at CONNECT");
    }
    if (expiry !== undefined) this.#expiryMs = expiry === 0xffffffff ? -1 : expiry * 1000;
    // [MQTT-3.14.4-3], [MQTT-3.1.2-10]: only a normal DISCONNECT (0x00; every 3.1.1 one) discards
    // the will; 0x04 asks for it, and a client reporting an error (>= 0x80) gets it sent too.
    const sendWill = this.#version === 5 && (p.reasonCode ?? 0) !== Reason.success;
    void this.#closed("the client disconnected", sendWill, expiry !== undefined ? this.#expiryMs : undefined);
    this.#t.end();
  }

  /**
   * The gateway's clock, a few times a second for every connection (one timer for all,
   * not two per connection): a CONNECT that does not come in time, and keep alive.
   */
  tick(now: number): void {
    if (this.#state === "awaiting-connect") {
      if (now - this.#openedAt > this.#ctx.limits.connectTimeoutMs) this.#drop("no CONNECT in time");
      return;
    }
    if (this.#state !== "open" || this.#keepAliveMs === 0) return;
    if (now - this.#lastInboundAt > this.#keepAliveMs * 1.5) {
      this.#ctx.metrics.protocolErrors++;
      this.disconnect(Reason.keepAliveTimeout, { reasonString: "no packet within one and a half keep alive intervals" });
    }
  }

  #protocolError(reason: number, why: string): void {
    if (this.#state === "closed") return;
    this.#ctx.metrics.protocolErrors++;
    this.#ctx.logger.debug({ clientId: this.#id?.clientId, reason, why }, "MQTT protocol error");
    if (this.#state === "awaiting-connect" || this.#state === "connecting") return this.#drop(why);
    this.disconnect(reason, { reasonString: why });
  }

  #internal(err: unknown): void {
    this.#ctx.logger.warn({ err, clientId: this.#id?.clientId }, "MQTT connection failed");
    if (this.#state === "connecting") {
      this.#refuse(Reason.serverUnavailable, "the session could not be opened");
      return;
    }
    this.disconnect(Reason.unspecifiedError, { reasonString: "internal error" });
  }

  /** Closes without a word (before CONNACK, or where the protocol gives none). */
  #drop(why: string): void {
    void this.#closed(why, true);
    this.#t.end();
    setTimeout(() => this.#t.destroy(), 1000).unref();
  }

  async #closed(why: string, sendWill: boolean, expiryMs?: number): Promise<void> {
    if (this.#state === "closed") return;
    const wasOpen = this.#state === "open";
    this.#state = "closed";
    this.#queue?.close();
    this.#control?.close();
    this.#waitingList = undefined;
    if (wasOpen) this.#ctx.metrics.connections--;
    if (this.#admitted) this.#ctx.leave();
    this.#ctx.logger.debug({ clientId: this.#id?.clientId, why }, "MQTT connection closed");
    const who = this.#id;
    try {
      await this.#client?.close();
      if (who !== undefined && !this.#takenOver) {
        await this.#ctx.session(who.tenant, who.clientId).call("disconnect", { connectionId: this.#connectionId, sendWill: sendWill && this.#willOnClose, expiryMs, sent: this.#sentUpTo || undefined });
        if (!this.#persistent || expiryMs === 0) await this.#ctx.routes?.removeAll(who.tenant, who.clientId);
      }
    } catch (err) {
      this.#ctx.logger.warn({ err, clientId: who?.clientId }, "the session did not hear of the disconnection");
    }
    // Forgotten once the session was told: a node dying before then leaves it to the cluster to tell.
    if (wasOpen) this.#ctx.live?.remove(this.#connectionId);
    this.#onClosedHook?.();
  }

  #onClosedHook: (() => void) | undefined;

  /** @internal The gateway's bookkeeping. */
  onClosed(hook: () => void): void {
    this.#onClosedHook = hook;
  }

  #write(p: Packet): void {
    if (this.#state === "closed" && p.cmd !== "disconnect") return;
    let bytes = mqtt.generate(p, { protocolVersion: this.#version });
    if (bytes.length > this.#clientMaxPacket && "properties" in p && p.properties !== undefined) {
      // [MQTT-3.1.2-24], [MQTT-3.2.2-19] (and the like for each packet): over the client's
      // Maximum Packet Size, the Reason String and User Properties go first; if it is
      // still too large, it is not sent ([MQTT-3.1.2-25]).
      const { reasonString: _r, userProperties: _u, ...rest } = p.properties as Record<string, unknown>;
      bytes = mqtt.generate({ ...p, properties: rest } as Packet, { protocolVersion: this.#version });
    }
    if (bytes.length > this.#clientMaxPacket) return;
    this.#ctx.metrics.bytesOut += bytes.length;
    this.#t.write(bytes);
  }
}

/** The queue entry a message came in, for its delivery options. */
const queuedBy = new WeakMap<Message, QueuedMessage>();

/** What `onParsed` read from a PUBLISH's bytes. */
const badTopic = Symbol("bad topic");
const userProps = Symbol("user properties");
type PublishExtras = IPublishPacket & {
  /** The topic name is not UTF-8. */
  [badTopic]?: true;
  /** User Properties in their order on the wire; null when the property section is malformed. */
  [userProps]?: { name: string; value: string }[] | null;
};

/** A PUBLISH's User Properties in their order on the wire ([MQTT-3.3.2-18]). */
function userPropertiesOf(p: IPublishPacket): { name: string; value: string }[] {
  return (p as PublishExtras)[userProps] ?? (p.properties?.userProperties === undefined ? noProperties : propertyList(p.properties.userProperties));
}

const noProperties: { name: string; value: string }[] = [];
const emptyBytes = Buffer.alloc(0);
const pingreqPacket = { cmd: "pingreq" } as Packet;
const pingresp = Buffer.from([0xd0, 0]);
/** The fixed first byte of each acknowledgement, with its reserved flags ([MQTT-2.2.2-1]), to its kind. */
const fixedAcks: Record<number, "puback" | "pubrec" | "pubrel" | "pubcomp"> = { 0x40: "puback", 0x50: "pubrec", 0x62: "pubrel", 0x70: "pubcomp" };

/**
 * One mqtt-packet parser per protocol version, shared by every connection: a frame is
 * always a whole packet (FrameGuard), so a parser is back at its start after each, and
 * holds nothing of a connection between frames. Parsing is synchronous, so the packet
 * it emits belongs to the connection whose frame is being parsed.
 */
const parsers = new Map<number, ReturnType<typeof mqtt.parser>>();
let parsing: MqttConnection | undefined;

function parseFrame(connection: MqttConnection, frame: Buffer, version: number): void {
  let parser = parsers.get(version);
  if (parser === undefined) {
    parser = mqtt.parser({ protocolVersion: version });
    parser.on("packet", (p: Packet) => parsing!.onParsed(p));
    parser.on("error", (err: Error) => parsing!.onParseError(err));
    parsers.set(version, parser);
  }
  const outer = parsing;
  parsing = connection;
  try {
    parser.parse(frame);
    // A whole frame leaves the parser at its start; should one not, it must not carry
    // into another connection's frame. A CONNECT also makes itself the parser's settings
    // (its protocol level): the parser goes back to its own version.
    // After an error it is reset here, offset included: mqtt-packet's own reset (at the
    // next parse) keeps the offset of the failed packet, which it reads the next one at.
    const state = parser as unknown as { error: unknown; _stateCounter: number; _pos: number; _list: { length: number }; _resetState(): void; settings: { protocolVersion: number } };
    if (state.settings.protocolVersion !== version) state.settings = { protocolVersion: version };
    if (state.error !== null) {
      state._resetState();
      state._pos = 0;
    } else if (state._stateCounter !== 0 || state._list.length !== 0) {
      state._resetState();
      state._pos = 0;
      connection.onParseError(new Error("a packet shorter than its own fields say"));
    }
  } finally {
    parsing = outer;
  }
}
