/**
 * The gRPC messaging API for services (`switchboard.v1.MessagingService`), with
 * per-tenant API keys. docs/grpc.md is its manual.
 */
export { ApiKeyTable, generateApiKey, hashApiKey, parseApiKeyHash } from "./api-keys.ts";
export type { TenantApiKeys } from "./api-keys.ts";
export { authenticate } from "./authenticate.ts";
export type { Authentication } from "./authenticate.ts";
export { createMessagingService } from "./messaging-service.ts";
export type { MessagingService, MessagingServiceOptions } from "./messaging-service.ts";
export { scopedName } from "./scoped-name.ts";
export { toTopicOptions, toTopicSettings } from "./topic-options.ts";
