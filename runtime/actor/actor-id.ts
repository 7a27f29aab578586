import { SwitchboardError } from "../errors.ts";

/**
 * An actor id is `type/tenant:key`, e.g. `session/acme:alice`. The tenant comes first
 * in every key so tenancy can be enforced from the id alone.
 */
export interface ActorAddress {
  readonly type: string;
  readonly tenant: string;
  /** The part after `tenant:`. */
  readonly key: string;
}

const typePattern = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const tenantPattern = /^[A-Za-z0-9_.-]{1,64}$/;
// Keys come from clients (MQTT client ids, JIDs), so anything printable is allowed.
// Control characters are refused: they break logs, subjects and storage keys.
// eslint-disable-next-line no-control-regex
const keyForbidden = /[\u0000-\u001f\u007f]/;
const maxKeyLength = 1024;

export function isValidActorType(type: string): boolean {
  return typePattern.test(type);
}

/** Splits and checks an id; throws `invalid_argument` naming what is wrong. */
export function parseActorId(id: string): ActorAddress {
  const slash = id.indexOf("/");
  const colon = slash < 0 ? -1 : id.indexOf(":", slash + 1);
  if (slash < 0 || colon < 0) throw badId(id, "it must look like type/tenant:key");
  const type = id.slice(0, slash);
  const tenant = id.slice(slash + 1, colon);
  const key = id.slice(colon + 1);
  if (!typePattern.test(type)) throw badId(id, `"${type}" is not an actor type (a letter, then up to 63 of A-Z a-z 0-9 _ . -)`);
  if (!tenantPattern.test(tenant)) throw badId(id, `"${tenant}" is not a tenant (1-64 of A-Z a-z 0-9 _ . -)`);
  if (key.length === 0 || key.length > maxKeyLength || keyForbidden.test(key)) {
    throw badId(id, `the key must be 1-${maxKeyLength} characters with no control characters`);
  }
  return { type, tenant, key };
}

/** `type` + `/` + `tenantKey` (`tenant:key`), checked. */
export function actorId(type: string, tenantKey: string): string {
  const id = `${type}/${tenantKey}`;
  parseActorId(id);
  return id;
}

/** The type part of an id already known to be valid. */
export function typeOf(id: string): string {
  return id.slice(0, id.indexOf("/"));
}

function badId(id: string, why: string): SwitchboardError {
  return new SwitchboardError("invalid_argument", `invalid actor id ${JSON.stringify(id)}: ${why}`, { context: { actorId: id } });
}
