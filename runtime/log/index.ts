export type { LogEntry, LogInfo, MessageLog, RetentionPolicy } from "./message-log.ts";
export type { MessageLogOptions } from "./message-log-options.ts";
export { MemoryMessageLog } from "./memory-message-log.ts";
export { createLevelMessageLog, LevelMessageLog } from "./level-message-log.ts";
export type { LevelLogDb, LevelMessageLogOptions } from "./level-message-log.ts";
