import type { Metadata } from "@grpc/grpc-js";
import type { ApiKeyTable } from "./api-keys.ts";

/** Who a call is from, or why it is refused. The reason is for the log, never for the caller. */
export type Authentication =
  | { readonly ok: true; readonly tenant: string }
  | { readonly ok: false; readonly reason: "no authorization metadata" | "several authorization values" | "not a bearer token" | "unknown key" };

// RFC 6750 §2.1: `Bearer` (case-insensitive: RFC 9110 §11.1), one or more spaces, a b64token.
const bearer = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The tenant of a call: the one its `authorization: Bearer <api key>` metadata
 * belongs to. Nothing in the request itself can name a tenant.
 */
export function authenticate(keys: ApiKeyTable, metadata: Metadata): Authentication {
  const values = metadata.get("authorization");
  if (values.length === 0) return { ok: false, reason: "no authorization metadata" };
  if (values.length > 1) return { ok: false, reason: "several authorization values" };
  const value = values[0];
  const m = typeof value === "string" ? bearer.exec(value) : null;
  if (m === null) return { ok: false, reason: "not a bearer token" };
  const tenant = keys.tenantOf(m[1]!);
  return tenant === undefined ? { ok: false, reason: "unknown key" } : { ok: true, tenant };
}
