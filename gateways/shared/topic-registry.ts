import type { Event } from "../../protos/index.ts";
import { TopicDirectory, topicDirectoryKey, topicsChannel } from "../../actors/index.ts";
import type { ActorRuntime, Logger } from "../../runtime/index.ts";
import type { DeliveryRouter, RouterSubscription } from "./delivery-router.ts";

interface TenantTopics {
  readonly managed: Set<string>;
  readonly subscription: RouterSubscription;
}

/**
 * Which topics of a tenant are managed, as this node knows it: read from the tenant's
 * topic directory on first use, then kept current by the directory's events on the
 * `topics` channel, and read again whenever the node was cut off from the cluster.
 *
 * A topic created a moment ago on another node may, for that moment, still look plain
 * here; a message published then reaches the topic's live subscribers without being
 * numbered or kept.
 */
export class TopicRegistry {
  readonly #runtime: ActorRuntime;
  readonly #router: DeliveryRouter;
  readonly #logger: Logger;
  readonly #tenants = new Map<string, TenantTopics>();
  readonly #loading = new Map<string, Promise<TenantTopics>>();

  constructor(runtime: ActorRuntime, router: DeliveryRouter, logger: Logger) {
    this.#runtime = runtime;
    this.#router = router;
    this.#logger = logger;
    router.onResync(() => {
      for (const tenant of this.#tenants.keys()) void this.#reload(tenant);
    });
  }

  /** Loads the tenant's directory if this node has not yet. */
  async load(tenant: string): Promise<void> {
    if (!this.#tenants.has(tenant)) await this.#tenant(tenant);
  }

  /** Whether `topic` is managed; loads the tenant first if needed. */
  async isManaged(tenant: string, topic: string): Promise<boolean> {
    return (this.#tenants.get(tenant) ?? (await this.#tenant(tenant))).managed.has(topic);
  }

  /** The answer without waiting, once the tenant is loaded; undefined before. */
  isManagedNow(tenant: string, topic: string): boolean | undefined {
    return this.#tenants.get(tenant)?.managed.has(topic);
  }

  /** Topics of the tenant that hold a retained message, asked of the directory itself (not cached). */
  async retainedTopics(tenant: string): Promise<readonly string[]> {
    return (await this.#runtime.ref(TopicDirectory, topicDirectoryKey(tenant)).call("list")).retained;
  }

  /** Tenants this node has loaded (met through a connection or a call). */
  tenants(): string[] {
    return [...this.#tenants.keys()];
  }

  close(): void {
    for (const t of this.#tenants.values()) t.subscription.close();
    this.#tenants.clear();
  }

  #tenant(tenant: string): Promise<TenantTopics> {
    let loading = this.#loading.get(tenant);
    if (loading === undefined) {
      loading = this.#first(tenant).finally(() => this.#loading.delete(tenant));
      this.#loading.set(tenant, loading);
    }
    return loading;
  }

  async #first(tenant: string): Promise<TenantTopics> {
    const managed = new Set<string>();
    // Follow changes before reading, so none falls between the read and the subscription.
    const subscription = this.#router.subscribe(tenant, topicsChannel, {
      receive: (event: Event) => {
        const change = event.topicChange;
        if (change === undefined) return;
        if (change.managed) managed.add(change.topic);
        else managed.delete(change.topic);
      },
    });
    try {
      const list = await this.#runtime.ref(TopicDirectory, topicDirectoryKey(tenant)).call("list");
      for (const t of list.managed) managed.add(t);
    } catch (err) {
      subscription.close();
      throw err;
    }
    const entry = { managed, subscription };
    this.#tenants.set(tenant, entry);
    return entry;
  }

  async #reload(tenant: string): Promise<void> {
    const t = this.#tenants.get(tenant);
    if (t === undefined) return;
    try {
      const list = await this.#runtime.ref(TopicDirectory, topicDirectoryKey(tenant)).call("list");
      t.managed.clear();
      for (const x of list.managed) t.managed.add(x);
    } catch (err) {
      this.#logger.warn({ err, tenant }, "topic directory not re-read after a reconnect");
    }
  }
}
