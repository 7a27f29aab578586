import { SwitchboardError } from "../errors.ts";

/** What every JetStream-backed store takes besides its own names. */
export interface JetStreamStoreOptions {
  /**
   * Copies JetStream keeps of the data: 1, or 3 (or 5) on a cluster of at least that
   * many servers so a server's death loses nothing. Used only when the bucket or
   * stream is created; an existing one keeps its own. Default 1.
   */
  readonly replicas?: number;
  /** How long one JetStream request may take before it fails with `unavailable`. Default 5000. */
  readonly timeoutMs?: number;
}

export interface ResolvedJetStreamStoreOptions {
  readonly replicas: number;
  readonly timeoutMs: number;
}

/** Fills defaults; throws `invalid_argument` naming the bad field. */
export function resolveJetStreamStoreOptions(options: JetStreamStoreOptions = {}): ResolvedJetStreamStoreOptions {
  const replicas = options.replicas ?? 1;
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > 5) {
    throw invalid("replicas must be an integer from 1 to 5", { replicas });
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw invalid("timeoutMs must be a positive number of milliseconds", { timeoutMs });
  }
  return { replicas, timeoutMs };
}

/** A KV bucket or JetStream stream name: what JetStream accepts, `[-_a-zA-Z0-9]+`. */
export function resolveName(field: string, value: string | undefined, fallback: string): string {
  const name = value ?? fallback;
  if (typeof name !== "string" || !/^[-_a-zA-Z0-9]+$/.test(name)) {
    throw invalid(`${field} must be a non-empty name of letters, digits, '-' and '_'`, { [field]: name });
  }
  return name;
}

/** A subject prefix: one or more `.`-separated tokens without wildcards or spaces. */
export function resolveSubjectPrefix(value: string | undefined, fallback: string): string {
  const prefix = value ?? fallback;
  if (typeof prefix !== "string" || !/^[-_a-zA-Z0-9]+(\.[-_a-zA-Z0-9]+)*$/.test(prefix)) {
    throw invalid("subjectPrefix must be '.'-separated tokens of letters, digits, '-' and '_'", {
      subjectPrefix: prefix,
    });
  }
  return prefix;
}

function invalid(message: string, context: Record<string, unknown>): SwitchboardError {
  return new SwitchboardError("invalid_argument", message, { context });
}
