import { checkName } from "../../../actors/index.ts";

/** Who an MQTT username names: a user part (possibly empty) and a tenant. */
export interface ParsedUsername {
  readonly user: string;
  readonly tenant: string;
}

/**
 * Reads `user@tenant`, split at the last `@`: tenant names never hold one, user names
 * may (`alice@example.com@acme` is user `alice@example.com` of tenant `acme`). A
 * username with no `@` belongs to `defaultTenant`. The user part may be empty
 * (`@acme`): the login's token then says who the user is. Nothing is checked here;
 * the authenticator looks the tenant and the user up, and a name nobody configured
 * finds nothing.
 */
export function parseUsername(username: string, defaultTenant: string): ParsedUsername {
  const at = username.lastIndexOf("@");
  return at < 0 ? { user: username, tenant: defaultTenant } : { user: username.slice(0, at), tenant: username.slice(at + 1) };
}

/** Whether `s` can be a user name of the messaging core: 1-256 characters, no control characters. */
export function isUserName(s: string): boolean {
  try {
    checkName(s, "user");
    return true;
  } catch {
    return false;
  }
}
