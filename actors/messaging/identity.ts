import { SwitchboardError } from "../../runtime/index.ts";

/**
 * Identities of the messaging core. Everything is keyed by tenant, and the tenant
 * comes first: a user is `tenant:user`, a connection is a user plus a resource (one
 * device or client of theirs), a topic is a name inside one tenant. Nothing addresses
 * another tenant's user or topic, because no address can name one.
 */
export interface UserAddress {
  readonly tenant: string;
  readonly user: string;
}

export interface ConnectionAddress extends UserAddress {
  /** One device or client of the user: an MQTT client id, an XMPP resource, a browser tab. */
  readonly resource: string;
}

const tenantPattern = /^[A-Za-z0-9_.-]{1,64}$/;
// Names come from clients (MQTT usernames and client ids, JID localparts and
// resources), so anything printable goes, within a length; control characters break
// logs, subjects and storage keys.
// eslint-disable-next-line no-control-regex
const controls = /[\u0000-\u001f\u007f]/;
const maxNameLength = 256;

/** Throws `invalid_argument` unless `tenant` is 1-64 of `A-Z a-z 0-9 _ . -`. */
export function checkTenant(tenant: string): string {
  if (typeof tenant !== "string" || !tenantPattern.test(tenant)) {
    throw new SwitchboardError("invalid_argument", `invalid tenant ${JSON.stringify(tenant)}: 1-64 of A-Z a-z 0-9 _ . -`, { context: { tenant } });
  }
  return tenant;
}

/** Throws `invalid_argument` unless `name` is 1-256 characters without control characters. */
export function checkName(name: string, what: "user" | "resource"): string {
  if (typeof name !== "string" || name.length === 0 || name.length > maxNameLength || controls.test(name)) {
    throw new SwitchboardError("invalid_argument", `invalid ${what} ${JSON.stringify(name)}: 1-${maxNameLength} characters, no control characters`, { context: { [what]: name } });
  }
  return name;
}

/** `tenant:user`, checked. */
export function userId(tenant: string, user: string): string {
  return `${checkTenant(tenant)}:${checkName(user, "user")}`;
}

/** Splits `tenant:user` at the first colon (a user name may hold more); throws `invalid_argument`. */
export function parseUserId(id: string): UserAddress {
  const colon = typeof id === "string" ? id.indexOf(":") : -1;
  if (colon < 0) throw new SwitchboardError("invalid_argument", `invalid user id ${JSON.stringify(id)}: it looks like tenant:user`);
  return { tenant: checkTenant(id.slice(0, colon)), user: checkName(id.slice(colon + 1), "user") };
}
