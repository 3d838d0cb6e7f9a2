#!/usr/bin/env node
// What `npm pack` would ship: the compiled JavaScript with its type declarations for
// every entry point, and the .proto files the client loads; nothing else.
"use strict";
const { execFileSync } = require("child_process");
const path = require("path");

const pkg = path.resolve(__dirname, "..");
const [{ files }] = JSON.parse(
  execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: pkg, encoding: "utf8" }));
const shipped = new Set(files.map((f) => f.path));
const entryPoints = require(path.join(pkg, "package.json")).exports;
const required = ["package.json", "proto/ismscode/harness/v1/verification.proto",
                  "proto/google/rpc/status.proto", "proto/google/rpc/error_details.proto"];
for (const entry of Object.values(entryPoints)) {
  if (typeof entry === "object") required.push(entry.types.slice(2), entry.default.slice(2));
}
const missing = required.filter((f) => !shipped.has(f));
const stray = [...shipped].filter((f) => !/^(dist\/|proto\/|package\.json$|README)/.test(f));
if (missing.length || stray.length) {
  console.error(`npm pack: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(stray)}`);
  process.exit(1);
}
console.log(`npm pack ships ${shipped.size} files, every entry point with its types`);
