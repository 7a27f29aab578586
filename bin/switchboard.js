#!/usr/bin/env node
// The `switchboard` command. Our sources are TypeScript run by Node's own type
// stripping, which needs Node 24; npm scripts and npx put the project's Node 24
// (the `node` dev dependency) first on PATH.
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(
    `switchboard: needs Node.js 24 or later, this is ${process.version}. ` +
      "Run it through npm so the project's Node 24 is used: `npx switchboard …` or `npm start`.\n",
  );
  process.exit(1);
}
await import("./main.ts");
