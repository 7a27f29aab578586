import { after, before } from "node:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "./nats-server.ts";

export interface JetStreamFixture {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
}

/**
 * One nats-server with JetStream for the calling test file: started and connected in
 * `before`, closed and stopped in `after`. Read the fields inside tests (they are set
 * once `before` has run).
 */
export function jetStreamPerFile(): JetStreamFixture {
  const fixture = {} as { server: NatsServer; nc: NatsConnection; jsm: JetStreamManager };
  before(async () => {
    fixture.server = await NatsServer.start({ jetstream: true });
    fixture.nc = await connect({ servers: fixture.server.url });
    fixture.jsm = await jetstreamManager(fixture.nc);
  });
  after(async () => {
    await fixture.nc?.close();
    await fixture.server?.close();
  });
  return fixture;
}
