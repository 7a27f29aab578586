import type { Socket } from "node:net";
import type { WebSocket } from "ws";

/**
 * The byte stream under one MQTT connection: a TCP (or TLS) socket, or a WebSocket
 * whose binary frames carry MQTT bytes ([MQTT-6.0.0-1]..[MQTT-6.0.0-4]). Writes made in
 * one turn of the event loop leave together.
 */
export interface MqttTransport {
  readonly remoteAddress: string;
  /** `tcp`, `tls`, `ws` or `wss`. */
  readonly kind: string;
  write(bytes: Uint8Array): void;
  /** Bytes queued for the peer and not yet taken by the kernel. */
  readonly pendingBytes: number;
  /** Flushes, then closes. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
  /** Stops (true) or resumes (false) reading, while inbound packets wait to be handled. */
  pause?(on: boolean): void;
  /** From now on, hands `sink` what arrives and, once, the end. */
  bind(sink: MqttTransportSink): void;
}

/** What a transport hands its bytes and its end to: the MQTT connection. */
export interface MqttTransportSink {
  transportData(chunk: Buffer): void;
  /** Once, however the stream closed. */
  transportClosed(): void;
}

export function socketTransport(socket: Socket, kind: "tcp" | "tls"): MqttTransport {
  return new SocketTransport(socket, kind);
}

/**
 * A TCP or TLS socket. A class, not closures over the socket: an idle connection's
 * footprint is what an MQTT server is measured by, and its methods are shared.
 */
class SocketTransport implements MqttTransport {
  readonly #socket: Socket;
  readonly kind: "tcp" | "tls";
  /** The `aloneStamp` of this socket's last write at once. */
  #stamp = 0;

  constructor(socket: Socket, kind: "tcp" | "tls") {
    this.#socket = socket;
    this.kind = kind;
    socket.setNoDelay(true);
  }

  get remoteAddress(): string {
    return `${this.#socket.remoteAddress ?? "?"}:${this.#socket.remotePort ?? 0}`;
  }

  write(bytes: Uint8Array): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (socket.writableCorked === 0) {
      if (alone > 0 && this.#stamp !== aloneStamp) {
        this.#stamp = aloneStamp;
        socket.write(bytes);
        return;
      }
      socket.cork();
      process.nextTick(uncork, socket);
    }
    socket.write(bytes);
  }

  get pendingBytes(): number {
    return this.#socket.writableLength;
  }

  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  pause(on: boolean): void {
    if (on) this.#socket.pause();
    else this.#socket.resume();
  }

  bind(sink: MqttTransportSink): void {
    const socket = this.#socket as SinkSocket;
    // Shared listeners that find the sink on the socket: no closures per connection.
    socket[sinkKey] = sink;
    socket.on("data", socketData);
    socket.on("close", socketClosed); // a socket closes once
    // An error is followed by close; without a listener it would be thrown.
    socket.on("error", ignore);
  }
}

const sinkKey = Symbol("mqtt transport sink");
type SinkSocket = Socket & { [sinkKey]: MqttTransportSink };

function socketData(this: SinkSocket, chunk: Buffer): void {
  this[sinkKey].transportData(chunk);
}

function socketClosed(this: SinkSocket): void {
  this[sinkKey].transportClosed();
}

/** Writes made in one turn of the event loop leave in one system call. */
function uncork(socket: Socket): void {
  socket.uncork();
}

/**
 * Gathering a turn's writes (cork, then uncork on the next tick) lets a read of many
 * packets answer each socket in one system call. A packet that came alone in its read,
 * the common case at a steady rate, answers each socket once, and gathering only costs
 * it: while one is handled (between `beginAlone` and `endAlone`), a socket's first write
 * goes to the kernel at once; a second one to the same socket is gathered as usual.
 */
let alone = 0;
let aloneStamp = 0;

export function beginAlone(): void {
  alone++;
  aloneStamp++;
}

export function endAlone(): void {
  alone--;
}

function ignore(): void {}

export function webSocketTransport(ws: WebSocket, remoteAddress: string, kind: "ws" | "wss"): MqttTransport {
  let pending: Uint8Array[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0 || ws.readyState !== ws.OPEN) return;
    const frame = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = [];
    ws.send(frame, { binary: true });
  };
  return {
    remoteAddress,
    kind,
    write(bytes) {
      pending.push(bytes);
      if (!scheduled) {
        scheduled = true;
        process.nextTick(flush);
      }
    },
    get pendingBytes() {
      return ws.bufferedAmount;
    },
    end() {
      flush();
      ws.close();
    },
    destroy: () => ws.terminate(),
    pause: (on) => void (on ? ws.pause() : ws.resume()),
    bind(sink) {
      ws.on("message", (data, isBinary) => {
        // [MQTT-6.0.0-1]: MQTT travels in binary frames only; a text frame closes the connection.
        if (!isBinary) return ws.close(1003, "MQTT uses binary frames");
        sink.transportData(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
      });
      ws.once("close", () => sink.transportClosed());
      ws.on("error", ignore);
    },
  };
}
