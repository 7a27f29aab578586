export { MemoryStateStore } from "./memory-state-store.ts";
export { createLevelStateStore, LevelStateStore } from "./level-state-store.ts";
export type { LevelStateDb, LevelStateStoreOptions } from "./level-state-store.ts";
export type { SaveExpectation, StateRecord, StateStore } from "./state-store.ts";
