import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { errors, jwtVerify } from "jose";
import { SwitchboardError } from "../../../runtime/index.ts";
import { readSettingFile } from "./read-setting-file.ts";
import { isUserName } from "./username.ts";

/** The JWS algorithms a tenant may choose (RFC 7518 §3.1); `none` is never one. */
export const jwtAlgorithms = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"] as const;
export type JwtAlgorithm = (typeof jwtAlgorithms)[number];

/** How one tenant's tokens are checked. */
export interface MqttJwtSettings {
  readonly algorithm: JwtAlgorithm;
  /**
   * HS256/384/512: the shared secret; its UTF-8 bytes are the key. At least as many
   * bytes as the hash (32 for HS256, RFC 7518 §3.2). A secret: never log it.
   */
  readonly secret?: string;
  /** RS* and ES*: a PEM file with the public key (SPKI or PKCS#1) or a certificate holding it. */
  readonly publicKeyFile?: string;
  /** The claim that names the user; default `sub`. */
  readonly userClaim: string;
  /** When set, the token's `iss` must be this. */
  readonly issuer?: string;
  /** When set, the token's `aud` must be or contain this. */
  readonly audience?: string;
  /** Leeway for `exp` and `nbf` against this node's clock, in seconds. */
  readonly clockSkewS: number;
}

/** A checked token's user and when it stops being valid; or why it was refused (safe to log: never the token). */
export type JwtCheck = { readonly ok: true; readonly user: string; readonly expiresAtMs: number } | { readonly ok: false; readonly detail: string };

export interface JwtVerifier {
  verify(token: string): Promise<JwtCheck>;
}

/** Tokens longer than this are refused unread: nothing legitimate is near it. */
const maxTokenLength = 16 * 1024;

/**
 * Checks one tenant's tokens: the signature with the configured key and algorithm
 * only, `exp` (required) and `nbf` with `clockSkewS` of leeway, `iss` and `aud` when
 * configured, and a user name in `userClaim`. `where` is the settings key
 * (`mqtt.tenants.acme.jwt`) for errors; `now` gives the time in milliseconds.
 *
 * Reads the public key file now, synchronously, so a node with a bad key does not
 * start: throws `invalid_argument` whose message starts with the setting's key.
 */
export function createJwtVerifier(settings: MqttJwtSettings, where: string, now: () => number = Date.now): JwtVerifier {
  const key = loadKey(settings, where);
  const options = {
    algorithms: [settings.algorithm],
    clockTolerance: settings.clockSkewS,
    requiredClaims: ["exp"],
    ...(settings.issuer === undefined ? {} : { issuer: settings.issuer }),
    ...(settings.audience === undefined ? {} : { audience: settings.audience }),
  };
  return {
    async verify(token) {
      if (token.length > maxTokenLength) return { ok: false, detail: `token longer than ${maxTokenLength} characters` };
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, key, { ...options, currentDate: new Date(now()) }));
      } catch (err) {
        if (err instanceof errors.JOSEError) return { ok: false, detail: `${err.code}: ${err.message}` };
        throw err;
      }
      const user = payload[settings.userClaim];
      if (typeof user !== "string" || !isUserName(user)) return { ok: false, detail: `claim "${settings.userClaim}" is not a user name (1-256 characters, no control characters)` };
      return { ok: true, user, expiresAtMs: (payload.exp as number) * 1000 };
    },
  };
}

const minSecretBytes = { HS256: 32, HS384: 48, HS512: 64 } as const;

/** What is wrong with an HMAC secret (never the secret itself), or undefined. */
export function jwtSecretProblem(alg: "HS256" | "HS384" | "HS512", secret: string): string | undefined {
  const bytes = Buffer.byteLength(secret, "utf8");
  const min = minSecretBytes[alg];
  return bytes < min ? `${alg} needs a secret of at least ${min} bytes (RFC 7518 §3.2), this one has ${bytes}` : undefined;
}
const curves = { ES256: "prime256v1", ES384: "secp384r1", ES512: "secp521r1" } as const;

function loadKey(s: MqttJwtSettings, where: string): KeyObject {
  const alg = s.algorithm;
  if (alg === "HS256" || alg === "HS384" || alg === "HS512") {
    if (s.secret === undefined) throw bad(`${where}.secret: ${alg} needs a shared secret (secret or secretEnv)`);
    const problem = jwtSecretProblem(alg, s.secret);
    if (problem !== undefined) throw bad(`${where}.secret: ${problem}`);
    return createSecretKey(Buffer.from(s.secret, "utf8"));
  }
  const at = `${where}.publicKeyFile`;
  if (s.publicKeyFile === undefined) throw bad(`${at}: ${alg} needs a public key file (PEM)`);
  const pem = readSettingFile(s.publicKeyFile, at);
  // createPublicKey would take a private key too; the signer's key has no place here.
  if (pem.includes("PRIVATE KEY-----")) throw bad(`${at}: ${s.publicKeyFile} holds a private key; give the node the public key only`);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw bad(`${at}: ${s.publicKeyFile} holds no PEM public key or certificate`);
  }
  if (alg.startsWith("RS")) {
    if (key.asymmetricKeyType !== "rsa") throw bad(`${at}: ${alg} needs an RSA key, ${s.publicKeyFile} holds ${key.asymmetricKeyType}`);
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw bad(`${at}: ${alg} needs an RSA key of 2048 bits or more`);
  } else {
    const curve = curves[alg as keyof typeof curves];
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== curve) throw bad(`${at}: ${alg} needs an EC key on ${curve}`);
  }
  return key;
}

function bad(message: string): SwitchboardError {
  return new SwitchboardError("invalid_argument", message);
}
