/**
 * Who may connect to the MQTT gateway and what they may do: the authenticator
 * (anonymous access, users with password hashes, JWT, client certificates, by
 * tenant), the access list, and the TLS material. Policy as data, applied by pure
 * functions; docs/mqtt.md is the manual.
 */
export { createAcl, checkAclPattern, filterCovers } from "./acl.ts";
export type { MqttAcl, MqttAclAccess, MqttAclAction, MqttAclRule, MqttAclSettings, MqttClientAcl, MqttClientIdentity } from "./acl.ts";
export { createAuthenticator } from "./authenticator.ts";
export type { AuthenticatorOptions, MqttAuthenticator, MqttAuthRefusal, MqttAuthResult, MqttAuthSettings, MqttLogin, MqttTenantAuth } from "./authenticator.ts";
export { createJwtVerifier, jwtAlgorithms } from "./jwt-verifier.ts";
export type { JwtAlgorithm, JwtCheck, JwtVerifier, MqttJwtSettings } from "./jwt-verifier.ts";
export { loadTls, verifiedCertificateCn } from "./load-tls.ts";
export type { MqttTlsSettings } from "./load-tls.ts";
export { defaultLogN, formatPasswordHash, hashPassword, maxLogN, minLogN, parsePasswordHash, verifyPassword } from "./password-hash.ts";
export type { PasswordHash } from "./password-hash.ts";
export { isUserName, parseUsername } from "./username.ts";
export type { ParsedUsername } from "./username.ts";
