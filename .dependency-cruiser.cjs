// The import direction of DESIGN.md ("Layers and folders"), enforced by `npm run lint`.
// protos <- runtime <- actors <- gateways; scaler <- runtime; bin wires everything.
const code = "^(runtime|actors|gateways|scaler|protos)/";
module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", comment: "Import cycles make start-up order and ownership unclear.", from: {}, to: { circular: true } },
    { name: "protos-imports-nothing", severity: "error", comment: "protos/ is the wire contract and imports no project code.", from: { path: "^protos/" }, to: { path: "^(runtime|actors|gateways|scaler|bin|test|bench)/" } },
    { name: "runtime-knows-no-domain", severity: "error", comment: "runtime/ knows nothing of chat, gateways or scaling.", from: { path: "^runtime/" }, to: { path: "^(actors|gateways|scaler|bin|bench)/" } },
    { name: "test-support-only-from-tests", severity: "error", comment: "test/ helpers (a real nats-server, processes) are for test files only.", from: { path: "^(runtime|actors|gateways|scaler|protos|bin)/", pathNot: "\\.test\\.ts$" }, to: { path: "^test/" } },
    { name: "actors-below-gateways", severity: "error", comment: "actors/ may import only runtime/ and protos/.", from: { path: "^actors/" }, to: { path: "^(gateways|scaler|bin|test|bench)/" } },
    { name: "scaler-beside-domain", severity: "error", comment: "scaler/ may import only runtime/ and protos/.", from: { path: "^scaler/" }, to: { path: "^(actors|gateways|bin|test|bench)/" } },
    { name: "gateways-not-up", severity: "error", comment: "gateways/ may import actors/, runtime/, protos/.", from: { path: "^gateways/" }, to: { path: "^(scaler|bin|test|bench)/" } },
    {
      name: "no-gateway-to-gateway",
      severity: "error",
      comment: "A gateway never reaches into another gateway; what they share lives in gateways/shared/.",
      from: { path: "^gateways/([^/]+)/" },
      to: { path: "^gateways/[^/]+/", pathNot: ["^gateways/$1/", "^gateways/shared/"] },
    },
    {
      name: "public-surface-only",
      severity: "error",
      comment: "Across top-level folders, import only a folder's index.ts (STYLE.md §2).",
      from: { path: "^(runtime|actors|gateways|scaler|protos|bin)/" },
      to: { path: code, pathNot: ["^$1/", "^(runtime|actors|scaler|protos)/index\\.ts$", "^gateways/[^/]+/index\\.ts$", "^gateways/index\\.ts$"] },
    },
    { name: "not-to-unresolvable", severity: "error", from: {}, to: { couldNotResolve: true } },
    { name: "no-test-from-code", severity: "error", comment: "Production code never imports a test file.", from: { path: code, pathNot: "\\.test\\.ts$|-contract\\.ts$" }, to: { path: "(\\.test\\.ts|-contract\\.ts)$" } },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^protos/gen/" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: [".ts", ".js"], conditionNames: ["import", "node", "default", "require"], exportsFields: ["exports"] },
  },
};
