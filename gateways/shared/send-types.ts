/** What a sender gives; the server fills in the id, the seq, the time and the addresses. */
export interface MessageInput {
  readonly body: Uint8Array;
  readonly contentType?: string;
  /** The sender's id for the message: a repeat with the same id is not accepted twice. */
  readonly clientMsgId?: string;
  readonly properties?: readonly { readonly name: string; readonly value: string }[];
  readonly expiresAtMs?: number;
  readonly responseTopic?: string;
  readonly correlationData?: Uint8Array;
  readonly bodyUtf8?: boolean;
  readonly qos?: number;
  readonly retain?: boolean;
}

export type Destination = { readonly user: string; readonly topic?: undefined } | { readonly topic: string; readonly user?: undefined };

/** Who sends: a user (with the resource of their connection), or the service itself (no sender). */
export interface Sender {
  readonly user: string;
  readonly resource?: string;
}

export interface SendResult {
  readonly id: string;
  /** The seq in the user's inbox or the managed topic's history; 0 for a plain topic. */
  readonly seq: number;
  readonly timestampMs: number;
  /** A repeat of a client message id already accepted: nothing new was delivered. */
  readonly duplicate: boolean;
}

export interface HistoryPage {
  readonly afterSeq?: number;
  readonly beforeSeq?: number;
  readonly limit?: number;
}
