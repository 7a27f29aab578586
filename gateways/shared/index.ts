/**
 * What every gateway shares: the messaging API (`Messaging`, and a `ClientConnection`
 * per client), the node's delivery router, and the topic tree.
 */
export { Messaging } from "./messaging.ts";
export type { MessagingOptions, Watch, WatchListener } from "./messaging.ts";
export type { Destination, HistoryPage, MessageInput, Sender, SendResult } from "./send-types.ts";
export { ClientConnection } from "./client-connection.ts";
export type { AttachOptions, ConnectionHost, ConnectionListener, Delivery, TopicSubscription } from "./client-connection.ts";
export { DeliveryRouter } from "./delivery-router.ts";
export type { DeliveryRouterOptions, Receiver, RouterMetrics, RouterSubscription } from "./delivery-router.ts";
export { TopicTree } from "./topic-tree.ts";
export { SeqTracker } from "./seq-tracker.ts";
export { channelSubject, filterSubjects, subjectToken } from "./delivery-subjects.ts";
export { DurableRoutes } from "./durable-routes.ts";
export type { DurableRoute, Enqueue, RouteMatch } from "./durable-routes.ts";
