import type { CallOptions, ReminderOptions, SendOptions } from "./actor-definition.ts";
import type { ActorMessage } from "./actor-message.ts";

/** What a turn reaches the runtime through: calls, sends and reminders on its behalf. */
export interface RuntimeInternals {
  /**
   * Sends a call or a one-way message. `parent` is the message of the calling turn, if
   * an actor is calling: its deadline caps this one's and its call chain grows by the
   * caller.
   */
  invoke(
    kind: "call" | "send",
    target: string,
    method: string,
    arg: unknown,
    options: CallOptions & SendOptions,
    parent: { readonly actorId: string; readonly message: ActorMessage | undefined } | undefined,
  ): Promise<unknown>;
  setReminder(actorId: string, name: string, options: ReminderOptions): Promise<void>;
  cancelReminder(actorId: string, name: string): Promise<boolean>;
}
