import { MemoryReminderTable } from "./memory-reminder-table.ts";
import { describeReminderTable } from "./reminder-table-contract.ts";

describeReminderTable("MemoryReminderTable", async () => {
  const table = new MemoryReminderTable();
  return { table, cleanup: () => table.close() };
});
