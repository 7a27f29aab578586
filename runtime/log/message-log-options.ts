import { systemClock } from "../clock.ts";
import type { Clock } from "../clock.ts";
import { SwitchboardError } from "../errors.ts";
import type { RetentionPolicy } from "./message-log.ts";

/** What every in-process `MessageLog` takes besides its storage. */
export interface MessageLogOptions {
  /** Default: keep everything. */
  readonly retention?: RetentionPolicy;
  /** Stamps entries and ages them. Default: `systemClock`. */
  readonly clock?: Clock;
  /**
   * How often storage of expired entries in streams nobody touches is reclaimed, when
   * `retention.maxAgeMs` is set. Visibility never waits for it. Default: 60 000.
   */
  readonly sweepIntervalMs?: number;
}

export interface ResolvedMessageLogOptions {
  /** `Infinity` when unbounded. */
  readonly maxEntries: number;
  /** `Infinity` when unbounded. */
  readonly maxAgeMs: number;
  readonly clock: Clock;
  readonly sweepIntervalMs: number;
}

/** Fills defaults; throws `invalid_argument` naming the bad field. */
export function resolveMessageLogOptions(options: MessageLogOptions = {}): ResolvedMessageLogOptions {
  const { maxEntries, maxAgeMs } = options.retention ?? {};
  if (maxEntries !== undefined && (!Number.isSafeInteger(maxEntries) || maxEntries < 1)) {
    throw invalid("retention.maxEntries must be a positive integer", { maxEntries });
  }
  if (maxAgeMs !== undefined && !(Number.isFinite(maxAgeMs) && maxAgeMs > 0)) {
    throw invalid("retention.maxAgeMs must be a positive number of milliseconds", { maxAgeMs });
  }
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  if (!(Number.isFinite(sweepIntervalMs) && sweepIntervalMs > 0)) {
    throw invalid("sweepIntervalMs must be a positive number of milliseconds", { sweepIntervalMs });
  }
  return {
    maxEntries: maxEntries ?? Infinity,
    maxAgeMs: maxAgeMs ?? Infinity,
    clock: options.clock ?? systemClock,
    sweepIntervalMs,
  };
}

function invalid(message: string, context: Record<string, unknown>): SwitchboardError {
  return new SwitchboardError("invalid_argument", message, { context });
}
