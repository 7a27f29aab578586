export { connectJetStream } from "./connect-jetstream.ts";
export type { ConnectJetStreamOptions } from "./connect-jetstream.ts";
export type { JetStreamStoreOptions } from "./jetstream-options.ts";
export { createJetStreamStateStore, JetStreamStateStore } from "./jetstream-state-store.ts";
export type { JetStreamStateStoreOptions } from "./jetstream-state-store.ts";
export { createJetStreamMessageLog, JetStreamMessageLog } from "./jetstream-message-log.ts";
export type { JetStreamMessageLogOptions } from "./jetstream-message-log.ts";
export { createJetStreamReminderTable, JetStreamReminderTable } from "./jetstream-reminder-table.ts";
export type { JetStreamReminderTableOptions } from "./jetstream-reminder-table.ts";
