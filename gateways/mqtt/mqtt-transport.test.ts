import assert from "node:assert/strict";
import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { beginAlone, endAlone, socketTransport, type MqttTransport } from "./mqtt-transport.ts";

/** A real TCP connection: the server end wrapped as a transport, the client end read whole. */
async function connected(server: Server): Promise<{ transport: MqttTransport; socket: Socket; client: Socket; received: () => Promise<Buffer> }> {
  const accepted = once(server, "connection");
  const client = createConnection((server.address() as { port: number }).port, "127.0.0.1");
  await once(client, "connect");
  const [socket] = (await accepted) as [Socket];
  const chunks: Buffer[] = [];
  client.on("data", (c: Buffer) => chunks.push(c));
  return {
    transport: socketTransport(socket, "tcp"),
    socket,
    client,
    async received() {
      socket.end();
      await once(client, "end");
      return Buffer.concat(chunks);
    },
  };
}

describe("socket transport", () => {
  let server: Server;
  before(async () => {
    server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  });
  after(() => server.close());

  it("hands its sink each chunk the client sends and, once, the end", async () => {
    const c = await connected(server);
    const got: string[] = [];
    let ends = 0;
    c.transport.bind({ transportData: (chunk) => got.push(chunk.toString()), transportClosed: () => ends++ });
    const client = c.client;
    client.write("ab");
    await new Promise((r) => setTimeout(r, 50));
    client.write("c");
    client.end();
    await once(c.socket, "close");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.join(""), "abc");
    assert.equal(ends, 1);
  });

  it("gathers the writes of one turn and sends them in order on the next tick", async () => {
    const c = await connected(server);
    c.transport.write(Buffer.from("a"));
    c.transport.write(Buffer.from("b"));
    assert.equal(c.socket.writableCorked, 1, "held until the turn ends");
    await new Promise((r) => process.nextTick(r));
    assert.equal(c.socket.writableCorked, 0);
    c.transport.write(Buffer.from("c"));
    assert.equal((await c.received()).toString(), "abc");
  });

  it("while a packet alone in its read is handled, a socket's first write goes at once and the next ones are gathered behind it", async () => {
    const c = await connected(server);
    beginAlone();
    try {
      c.transport.write(Buffer.from("1"));
      assert.equal(c.socket.writableCorked, 0, "not held");
      c.transport.write(Buffer.from("2"));
      c.transport.write(Buffer.from("3"));
      assert.equal(c.socket.writableCorked, 1, "the second write of the same packet is gathered");
    } finally {
      endAlone();
    }
    c.transport.write(Buffer.from("4"));
    beginAlone();
    try {
      // A new packet, but this turn's writes are still held: the write joins them, in order.
      c.transport.write(Buffer.from("5"));
    } finally {
      endAlone();
    }
    assert.equal((await c.received()).toString(), "12345");
  });
});
