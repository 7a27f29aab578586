import { NodeProcess } from "./node-process.ts";

const fixture = new URL("../fixtures/cluster-node.ts", import.meta.url).pathname;

export interface ClusterProcessOptions {
  readonly natsUrl: string;
  readonly clusterName: string;
  readonly partitions?: number;
  readonly leaseMs?: number;
  readonly replicas?: number;
}

/** Starts `switchboard start --nats …` for one node (hosting the test actors) and waits until it has joined. */
export async function startClusterProcess(nodeId: string, o: ClusterProcessOptions): Promise<{ node: NodeProcess; grpcPort: number }> {
  const node = new NodeProcess([], {
    script: fixture,
    env: {
      SWITCHBOARD_NODE_ID: nodeId,
      SWITCHBOARD_NATS: o.natsUrl,
      SWITCHBOARD_CLUSTER_NAME: o.clusterName,
      SWITCHBOARD_PARTITIONS: String(o.partitions ?? 32),
      SWITCHBOARD_LEASE_MS: String(o.leaseMs ?? 1500),
      SWITCHBOARD_REPLICAS: String(o.replicas ?? 1),
      SWITCHBOARD_GRPC_PORT: "0",
      SWITCHBOARD_CONFIG: "",
      SWITCHBOARD_LOG_LEVEL: process.env.SB_TEST_LOG ?? "info",
    },
  });
  const { grpc } = await node.started();
  return { node, grpcPort: grpc! };
}
