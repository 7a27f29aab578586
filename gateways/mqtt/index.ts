/**
 * The MQTT gateway: MQTT 3.1.1 and 5.0 over TCP and WebSocket, optionally TLS, on the
 * messaging API (docs/mqtt.md).
 */
export { MqttGateway } from "./mqtt-gateway.ts";
export type { MqttGatewayOptions, MqttListenerInfo, MqttListenerOptions } from "./mqtt-gateway.ts";
export { allowAll, type MqttAccess, type MqttClientAccess, type MqttIdentity, type MqttLoginAttempt, type MqttLoginResult } from "./mqtt-context.ts";
export { defaultMqttLimits } from "./mqtt-limits.ts";
export type { MqttLimits } from "./mqtt-limits.ts";
export { MqttMetrics } from "./mqtt-metrics.ts";
export { checkExposure, isLoopback, mqttSettingKeys, parseMqttSettings } from "./mqtt-settings.ts";
export type { MqttSettings, ParseMqttOptions } from "./mqtt-settings.ts";
export { createAcl, createAuthenticator, defaultLogN, hashPassword, isUserName, loadTls, maxLogN, minLogN, parsePasswordHash, verifiedCertificateCn, verifyPassword } from "./auth/index.ts";
export type { MqttAcl, MqttAclRule, MqttAclSettings, MqttAuthenticator, MqttAuthRefusal, MqttAuthResult, MqttAuthSettings, MqttClientAcl, MqttClientIdentity, MqttJwtSettings, MqttLogin, MqttTenantAuth, MqttTlsSettings } from "./auth/index.ts";
