import { X509Certificate } from "node:crypto";
import { createSecureContext, type TLSSocket, type TlsOptions } from "node:tls";
import { SwitchboardError } from "../../../runtime/index.ts";
import { readSettingFile } from "./read-setting-file.ts";

/** Where the MQTT listener's TLS material is, and whether clients must show a certificate. */
export interface MqttTlsSettings {
  /** PEM: the server's certificate, then any intermediates. */
  readonly certFile: string;
  /** PEM: the server's private key (unencrypted). */
  readonly keyFile: string;
  /** PEM: the CAs that client certificates must chain to. Needed when `requireClientCert`. */
  readonly caFile?: string;
  /** Refuse a TLS handshake without a client certificate that chains to `caFile`. Default false. */
  readonly requireClientCert: boolean;
  /** The verified client certificate's subject CN is the client's username (`device@tenant`); see the authenticator. Default false. */
  readonly useIdentityAsUsername: boolean;
}

/**
 * Reads the TLS files and returns the options for `tls.createServer`: cert, key, ca,
 * `requestCert`/`rejectUnauthorized` (both `requireClientCert`) and TLS 1.2 at least.
 * Builds a secure context once to prove the key matches the certificate.
 *
 * Throws `invalid_argument` whose message starts with the setting's key
 * (`mqtt.tls.keyFile: cannot read /etc/mqtt/key.pem (permission denied)`).
 */
export function loadTls(settings: MqttTlsSettings): TlsOptions {
  const cert = readSettingFile(settings.certFile, "mqtt.tls.certFile");
  const key = readSettingFile(settings.keyFile, "mqtt.tls.keyFile");
  const ca = settings.caFile === undefined ? undefined : readSettingFile(settings.caFile, "mqtt.tls.caFile");
  try {
    createSecureContext({ cert });
  } catch (err) {
    throw bad(`mqtt.tls.certFile: ${settings.certFile} holds no usable PEM certificate (${reason(err)})`);
  }
  if (ca !== undefined) {
    // createSecureContext skips what is not a certificate in `ca`, so parse it here.
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw bad(`mqtt.tls.caFile: ${settings.caFile} holds no usable PEM certificate (${reason(err)})`);
    }
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw bad(`mqtt.tls.keyFile: ${settings.keyFile} is not the private key of ${settings.certFile} or not a usable PEM key (${reason(err)})`);
  }
  return {
    cert,
    key,
    ...(ca === undefined ? {} : { ca }),
    minVersion: "TLSv1.2",
    requestCert: settings.requireClientCert,
    rejectUnauthorized: settings.requireClientCert,
  };
}

/** OpenSSL's words, without its error-stack prefix. */
function reason(err: unknown): string {
  return String((err as Error).message ?? err).replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/, "");
}

function bad(message: string): SwitchboardError {
  return new SwitchboardError("invalid_argument", message);
}

/**
 * The subject CN of the client certificate that `socket` verified against the CA, for
 * `MqttLogin.certificateCn`; undefined when there is none, it was not verified, or the
 * subject holds several CNs.
 */
export function verifiedCertificateCn(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate().subject?.CN as string | string[] | undefined;
  return typeof cn === "string" && cn !== "" ? cn : undefined;
}
