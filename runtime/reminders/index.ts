export { maxCatchUpFires, missedTickPolicies, nextDueAfter, validateReminder } from "./reminder-table.ts";
export type { DueTicks, MissedTickPolicy, Reminder, ReminderTable } from "./reminder-table.ts";
export { MemoryReminderTable } from "./memory-reminder-table.ts";
export { createLevelReminderTable, LevelReminderTable } from "./level-reminder-table.ts";
export type {
  LevelReminderDb,
  LevelReminderIterator,
  LevelReminderScan,
  LevelReminderTableOptions,
} from "./level-reminder-table.ts";
