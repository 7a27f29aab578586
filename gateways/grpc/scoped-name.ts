import { SwitchboardError } from "../../runtime/index.ts";

// What may be a tenant name: the rule of `checkTenant` (actors/messaging/identity.ts).
const qualified = /^([A-Za-z0-9_.-]{1,64}):/;

/**
 * A user or topic name from a request, resolved within the tenant of the caller's API
 * key. The rule (docs/grpc.md, "Tenancy"):
 * - a plain name (no colon, or a colon after something that cannot be a tenant name,
 *   as in `rooms/a:b`) is a name in the key's tenant, as given;
 * - `T:rest`, where `T` could be a tenant name, is a qualified name: when `T` is the
 *   key's tenant it means `rest`; any other `T` is refused with `permission_denied`,
 *   whether or not such a tenant exists.
 *
 * So a name that really starts with `word:` is written with the tenant in front
 * (`acme:urn:x` is `urn:x` of tenant acme). The name itself is checked later, by the
 * messaging API (`invalid_argument`).
 */
export function scopedName(tenant: string, value: string, field: string): string {
  const m = qualified.exec(value);
  if (m === null) return value;
  if (m[1] === tenant) return value.slice(m[0].length);
  throw new SwitchboardError(
    "permission_denied",
    `${field} ${JSON.stringify(value)} names tenant ${m[1]}, but this API key is for tenant ${tenant}; names are plain names within the key's tenant (write ${tenant}:${value} if the name itself holds the colon)`,
    { context: { tenant } },
  );
}
