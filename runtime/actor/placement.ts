import type { ActorMessage } from "./actor-message.ts";

/**
 * Where actors live, as the runtime needs to know it. Without one (embedded mode)
 * every actor is local. The cluster's `ClusterPlacement` implements it over
 * partitions.
 */
export interface Placement {
  /** Whether this node serves the actor now; if so its messages stay in-process. */
  isLocal(actorId: string): boolean;
  /** Sends the message to the node that serves it; resolves with a call's result, or once a send was accepted there. */
  forward(message: ActorMessage): Promise<unknown>;
}
