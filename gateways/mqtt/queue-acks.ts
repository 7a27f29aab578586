/**
 * The session queue's messages sent on one connection and not yet settled, turned into
 * the cumulative acknowledgement the session actor keeps (its cursor: everything up to
 * it may go). A client settles them out of order: a PUBREC for a QoS 2 message may come
 * before the PUBACK of an earlier QoS 1 one ([MQTT-4.6.0-2] and [MQTT-4.6.0-3] order
 * each kind apart), and a client need not answer at once. So the cursor moves only over
 * a settled prefix; what is behind an unsettled message stays queued and is sent again
 * after a reconnect.
 */
export class QueueAcks {
  /** Seq → settled, in the order sent (ascending: the queue is delivered in seq order). */
  readonly #open = new Map<number, boolean>();

  /** A queue message is being sent. */
  sent(seq: number): void {
    if (!this.#open.has(seq)) this.#open.set(seq, false);
  }

  /**
   * The client has it (or it will never be sent: expired, too large). Returns the new
   * cumulative acknowledgement when it moved, undefined when an earlier one is still out.
   */
  settle(seq: number): number | undefined {
    if (this.#open.get(seq) !== false) return undefined;
    this.#open.set(seq, true);
    let upTo: number | undefined;
    for (const [s, settled] of this.#open) {
      if (!settled) break;
      upTo = s;
      this.#open.delete(s);
    }
    return upTo;
  }
}
