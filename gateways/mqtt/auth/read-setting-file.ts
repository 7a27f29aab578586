import { readFileSync } from "node:fs";
import { SwitchboardError } from "../../../runtime/index.ts";

/**
 * Reads a file a setting names (a key, a certificate). Throws `invalid_argument` whose
 * message starts with the setting's key: `mqtt.tls.certFile: cannot read /etc/x.pem (no such file)`.
 */
export function readSettingFile(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (code ?? String(err));
    throw new SwitchboardError("invalid_argument", `${key}: cannot read ${path} (${why})`);
  }
}
