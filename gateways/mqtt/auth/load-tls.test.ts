import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import { after, before, describe, test } from "node:test";
import { isSwitchboardError } from "../../../runtime/index.ts";
import { loadTls, verifiedCertificateCn, type MqttTlsSettings } from "./load-tls.ts";

const dir = mkdtempSync(join(tmpdir(), "sb-mqtt-tls-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const f = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });

before(() => {
  // A CA, a server certificate for localhost, a client certificate (CN meter-1@acme), all signed by the CA.
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test CA");
  for (const [name, cn] of [["server", "localhost"], ["client", "meter-1@acme"]] as const) {
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
    writeFileSync(f(`${name}.ext`), name === "server" ? "subjectAltName=DNS:localhost\n" : "extendedKeyUsage=clientAuth\n");
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`);
  }
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days", "1", "-subj", "/CN=other");
  writeFileSync(f("garbage.pem"), "not a certificate\n");
});

const base = (): MqttTlsSettings => ({ certFile: f("server.pem"), keyFile: f("server.key"), requireClientCert: false, useIdentityAsUsername: false });

describe("loadTls", () => {
  test("reads the files into server options", () => {
    const o = loadTls({ ...base(), caFile: f("ca.pem"), requireClientCert: true });
    assert.deepEqual(o.cert, readFileSync(f("server.pem")));
    assert.deepEqual(o.key, readFileSync(f("server.key")));
    assert.deepEqual(o.ca, readFileSync(f("ca.pem")));
    assert.equal(o.requestCert, true);
    assert.equal(o.rejectUnauthorized, true);
    assert.equal(o.minVersion, "TLSv1.2");
    const plain = loadTls(base());
    assert.equal(plain.requestCert, false);
    assert.equal("ca" in plain, false);
  });

  test("a clear error naming the setting for a missing, unreadable or wrong file", () => {
    const cases: [Partial<MqttTlsSettings>, RegExp][] = [
      [{ certFile: f("nope.pem") }, /^mqtt\.tls\.certFile: cannot read .*nope\.pem \(no such file\)$/],
      [{ keyFile: f("nope.key") }, /^mqtt\.tls\.keyFile: cannot read .*nope\.key \(no such file\)$/],
      [{ caFile: dir }, /^mqtt\.tls\.caFile: cannot read .* \(is a directory\)$/],
      [{ certFile: f("garbage.pem") }, /^mqtt\.tls\.certFile: .*garbage\.pem holds no usable PEM certificate/],
      [{ caFile: f("garbage.pem") }, /^mqtt\.tls\.caFile: .*garbage\.pem holds no usable PEM certificate/],
      [{ keyFile: f("other.key") }, /^mqtt\.tls\.keyFile: .*other\.key is not the private key of .*server\.pem/],
    ];
    if (process.getuid?.() !== 0) {
      writeFileSync(f("locked.key"), "x");
      chmodSync(f("locked.key"), 0o000);
      cases.push([{ keyFile: f("locked.key") }, /^mqtt\.tls\.keyFile: cannot read .*locked\.key \(permission denied\)$/]);
    }
    for (const [over, why] of cases) {
      assert.throws(() => loadTls({ ...base(), ...over }), (err: unknown) => isSwitchboardError(err, "invalid_argument") && why.test(err.message), String(why));
    }
  });

  test("a server made from them verifies client certificates, and the CN is read from a verified one", async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer(loadTls({ ...base(), caFile: f("ca.pem"), requireClientCert: true }), (socket: TLSSocket) => {
      seen.push(verifiedCertificateCn(socket));
      socket.end("hi");
    });
    server.on("tlsClientError", () => {});
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    try {
      const good = connect({ port, host: "127.0.0.1", servername: "localhost", ca: readFileSync(f("ca.pem")), cert: readFileSync(f("client.pem")), key: readFileSync(f("client.key")) });
      const [data] = (await once(good, "data")) as [Buffer];
      assert.equal(data.toString(), "hi");
      good.destroy();
      assert.deepEqual(seen, ["meter-1@acme"]);

      const without = connect({ port, host: "127.0.0.1", servername: "localhost", ca: readFileSync(f("ca.pem")) });
      const outcome = await new Promise<string>((resolve) => {
        without.on("data", () => resolve("data"));
        without.on("error", () => resolve("refused"));
        without.on("close", () => resolve("refused"));
      });
      assert.equal(outcome, "refused", "no client certificate, no connection");
      assert.deepEqual(seen, ["meter-1@acme"]);
    } finally {
      server.close();
    }
  });
});
