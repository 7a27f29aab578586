import type { Message } from "../../protos/index.ts";

export interface SeqPage {
  /** Ascending by seq; entries the channel no longer keeps are simply absent. */
  readonly messages: readonly Message[];
  /** The channel's last seq when the page was read. */
  readonly lastSeq: number;
}

export interface SeqTrackerOptions {
  /** Everything up to this seq has been delivered (or is not wanted). */
  readonly cursor: number;
  /** Reads the channel from `fromSeq` on. */
  readonly fetch: (fromSeq: number) => Promise<SeqPage>;
  /** Receives each message once, in seq order. */
  readonly deliver: (message: Message) => void;
  /** A fetch failed; it is tried again after a pause. */
  readonly onError?: (err: unknown) => void;
  /** First pause after a failed fetch, ms; doubles to at most 5 s. Default 100. */
  readonly retryMs?: number;
}

/**
 * Delivers a numbered channel (a user's inbox, a managed topic) in seq order, each
 * message once, whatever way the messages come: live events may arrive late, twice,
 * or not at all (lost with a node, or while this node was cut off). A message beyond
 * the next one waits while the gap before it is fetched; a `head` (the channel's last
 * seq, announced after a failover or learned after a reconnect) fetches what is
 * missing up to it. Entries the channel dropped (its bound, its retention) are skipped.
 */
export class SeqTracker {
  #cursor: number;
  /** The highest seq known to exist. */
  #target: number;
  /** Messages that came early, by seq; made when one first does. */
  #pendingMap: Map<number, Message> | undefined;
  readonly #o: SeqTrackerOptions;
  #fetching = false;
  #closed = false;

  constructor(options: SeqTrackerOptions) {
    this.#o = options;
    this.#cursor = options.cursor;
    this.#target = options.cursor;
  }

  #pending(): Map<number, Message> {
    return (this.#pendingMap ??= new Map());
  }

  /** The last seq delivered. */
  get cursor(): number {
    return this.#cursor;
  }

  /** A live message of the channel. */
  offer(message: Message): void {
    const seq = message.seq;
    if (this.#closed || seq <= this.#cursor) return;
    if (seq === this.#cursor + 1 && !this.#fetching) {
      this.#advance(message);
      this.#drainPending();
      return;
    }
    this.#pending().set(seq, message);
    if (seq > this.#target) this.#target = seq;
    this.#fill();
  }

  /** The channel has reached `seq`: fetch whatever of it was not delivered. */
  head(seq: number): void {
    if (this.#closed) return;
    if (seq > this.#target) this.#target = seq;
    this.#fill();
  }

  close(): void {
    this.#closed = true;
    this.#pendingMap?.clear();
  }

  #advance(message: Message): void {
    this.#cursor = message.seq;
    this.#o.deliver(message);
  }

  /** Delivers waiting messages that are next in line; forgets those behind the cursor. */
  #drainPending(): void {
    if (this.#pendingMap === undefined || this.#pendingMap.size === 0) return;
    for (const seq of this.#pending().keys()) if (seq <= this.#cursor) this.#pending().delete(seq);
    for (let next = this.#pending().get(this.#cursor + 1); next !== undefined && !this.#closed; next = this.#pending().get(this.#cursor + 1)) {
      this.#pending().delete(next.seq);
      this.#advance(next);
    }
  }

  #fill(): void {
    if (this.#fetching || this.#closed || this.#target <= this.#cursor) return;
    this.#fetching = true;
    void this.#fetchLoop();
  }

  async #fetchLoop(): Promise<void> {
    let pauseMs = this.#o.retryMs ?? 100;
    try {
      while (!this.#closed && this.#target > this.#cursor) {
        let page: SeqPage;
        try {
          page = await this.#o.fetch(this.#cursor + 1);
        } catch (err) {
          this.#o.onError?.(err);
          await new Promise((r) => setTimeout(r, pauseMs));
          pauseMs = Math.min(pauseMs * 2, 5000);
          continue;
        }
        if (this.#closed) return;
        if (page.lastSeq > this.#target) this.#target = page.lastSeq;
        for (const m of page.messages) {
          if (m.seq <= this.#cursor) continue;
          // What is absent between cursor and m.seq was dropped by the channel: skip it.
          this.#pendingMap?.delete(m.seq);
          this.#advance(m);
          if (this.#closed) return;
        }
        if (page.messages.length === 0) {
          // Nothing from the cursor on was there when read: whatever was numbered up to
          // lastSeq is gone. Later seqs may have come since; the loop reads again for them.
          if (page.lastSeq > this.#cursor) this.#cursor = page.lastSeq;
          if ((this.#pendingMap?.size ?? 0) === 0 && this.#target > this.#cursor) this.#target = this.#cursor;
        }
        this.#drainPending();
      }
    } finally {
      this.#fetching = false;
    }
    // Messages that came while the last page was read may still be waiting.
    this.#drainPending();
    this.#fill();
  }
}
