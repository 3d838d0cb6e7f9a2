#!/usr/bin/env node
// Build step: copies the gateway's .proto files from the repository's proto/ into the
// package (proto/, git-ignored, shipped with it: the client loads them at run time) and
// generates their TypeScript types into src/gen (git-ignored). Nothing generated is
// committed.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const pkg = path.resolve(__dirname, "..");
if (!fs.existsSync(path.join(pkg, "node_modules", "@grpc", "proto-loader"))) {
  console.error("client/node: its npm packages are not installed: run scripts/install-deps " +
                "--tests (or npm ci in client/node)");
  process.exit(1);
}
const source = path.resolve(pkg, "..", "..", "proto");
const target = path.join(pkg, "proto");
const files = [
  "ismscode/harness/v1/verification.proto",
  "google/rpc/status.proto",
  "google/rpc/error_details.proto",
];

fs.rmSync(target, { recursive: true, force: true });
for (const file of files) {
  fs.mkdirSync(path.dirname(path.join(target, file)), { recursive: true });
  fs.copyFileSync(path.join(source, file), path.join(target, file));
}

const gen = path.join(pkg, "src", "gen");
fs.rmSync(gen, { recursive: true, force: true });
// The same options as the loader in src/proto.ts.
execFileSync(
  process.execPath,
  [
    require.resolve("@grpc/proto-loader/build/bin/proto-loader-gen-types.js"),
    "ismscode/harness/v1/verification.proto", // first: the tool's -I would take it as a path
    "--keepCase", "--longs=Number", "--enums=String", "--defaults", "--oneofs",
    "--grpcLib=@grpc/grpc-js", `--outDir=${gen}`, `--includeDirs=${target}`,
  ],
  { stdio: "inherit" },
);
