import { MemoryStateStore } from "./memory-state-store.ts";
import { describeStateStore } from "./state-store-contract.ts";

describeStateStore("MemoryStateStore", async () => {
  const store = new MemoryStateStore();
  return { store, cleanup: () => store.close() };
});
