import { status as GrpcStatus, type ServerWritableStream } from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import type { Event, SubscribeRequest } from "../../protos/index.ts";
import type { Messaging, WatchListener } from "../shared/index.ts";
import { SubscribeStream } from "./subscribe-stream.ts";

/** A server stream whose client never reads: every write after the first stays queued. */
function stuckCall() {
  const statuses: { code?: number; details?: string }[] = [];
  const stream = new Writable({ objectMode: true, write: () => undefined }) as Writable & { cancelled: boolean; sendMetadata(): void };
  stream.cancelled = false;
  stream.sendMetadata = () => undefined;
  stream.on("error", (err: { code?: number; details?: string }) => statuses.push(err));
  return { call: stream as unknown as ServerWritableStream<SubscribeRequest, Event>, stream, statuses };
}

/** A messaging API whose watch resolves when told to, and counts what is open. */
function fakeMessaging() {
  const state = { listener: undefined as WatchListener | undefined, watches: 0, resolve: undefined as (() => void) | undefined };
  const messaging = {
    watch: (_tenant: string, _to: unknown, listener: WatchListener) => {
      state.listener = listener;
      state.watches++;
      return new Promise((resolve) => (state.resolve = () => resolve({ close: () => void state.watches-- })));
    },
  } as unknown as Messaging;
  return { messaging, state };
}

const event = (n: number): Event => ({ eventId: `e${n}`, tenant: "acme", channel: "user:alice" });

test("a client that falls too far behind gets RESOURCE_EXHAUSTED, and the watch is closed", async () => {
  const { call, statuses } = stuckCall();
  const { messaging, state } = fakeMessaging();
  let ends = 0;
  const s = new SubscribeStream(call, { messaging, maxPendingEvents: 5, onInternal: () => undefined, onEnd: () => ends++ });
  const started = s.start("acme", { user: "alice" }, 0);
  state.resolve!();
  await started;
  assert.equal(state.watches, 1);
  for (let i = 0; i < 20; i++) state.listener!.event(event(i));
  assert.equal(s.ended, true);
  assert.equal(statuses.length, 1);
  assert.equal(statuses[0]!.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(statuses[0]!.details!, /too slow/);
  assert.equal(state.watches, 0);
  assert.equal(ends, 1, "onEnd once");
});

test("a cancel that comes before the watch is in place closes the watch when it arrives", async () => {
  const { call, stream } = stuckCall();
  const { messaging, state } = fakeMessaging();
  let ends = 0;
  const s = new SubscribeStream(call, { messaging, maxPendingEvents: 5, onInternal: () => undefined, onEnd: () => ends++ });
  const started = s.start("acme", { user: "alice" }, 0);
  stream.cancelled = true;
  stream.emit("cancelled", "cancelled");
  assert.equal(ends, 1);
  state.resolve!();
  await started;
  assert.equal(state.watches, 0, "closed as soon as it was made");
  state.listener!.event(event(1));
  assert.equal(stream.writableLength, 0, "nothing written after the end");
});

test("a watch that fails ends the stream with the error's status", async () => {
  const { call, statuses } = stuckCall();
  const { messaging, state } = fakeMessaging();
  const s = new SubscribeStream(call, { messaging, maxPendingEvents: 5, onInternal: () => undefined, onEnd: () => undefined });
  const started = s.start("acme", { topic: "rooms/a" }, 0);
  state.resolve!();
  await started;
  state.listener!.error!(Object.assign(new Error("boom")));
  assert.equal(statuses[0]!.code, GrpcStatus.INTERNAL, "an untyped failure is INTERNAL, its message kept back");
  assert.equal(statuses[0]!.details, "internal error");
  assert.equal(state.watches, 0);
});
