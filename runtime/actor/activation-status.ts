/** Where an activation is in its life: loading, serving, saving on its way out, gone. */
export type ActivationStatus = "activating" | "active" | "deactivating" | "gone";
