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

// A node (`start`) is a long-lived server holding many small objects per connection.
// V8 sizes the young generation from the machine's memory: on a 24 GiB machine it grows
// to 134 MB after a burst of connections and keeps it, and a scavenge of a large young
// generation is a long pause. A node runs with 16 MB semi-spaces unless its operator
// chose a size (`NODE_OPTIONS=--max-semi-space-size=N`): the process replaces itself
// once, keeping its PID, before anything has started. See docs/runtime.md, "Memory".
const youngGenerationFlag = "--max-semi-space-size";
const chosen = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)].some((f) => f.startsWith(youngGenerationFlag));
if (process.argv[2] === "start" && !chosen && typeof process.execve === "function") {
  process.execve(process.execPath, [process.execPath, `${youngGenerationFlag}=16`, ...process.execArgv, ...process.argv.slice(1)], process.env);
}
await import("./main.ts");
