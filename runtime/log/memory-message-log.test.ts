import { MemoryMessageLog } from "./memory-message-log.ts";
import { describeMessageLog } from "./message-log-contract.ts";

describeMessageLog("MemoryMessageLog", async (options) => {
  const log = new MemoryMessageLog(options);
  return { log, cleanup: () => log.close() };
});
