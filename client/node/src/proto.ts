// The gateway's service and the google.rpc error details, loaded at run time from the
// .proto files the build copies into the package (scripts/generate.js).
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";
import type { ProtoGrpcType } from "./gen/verification";

export const PROTO_DIR = path.join(__dirname, "..", "proto");

// The same options as scripts/generate.js gives proto-loader-gen-types.
const definition = protoLoader.loadSync("ismscode/harness/v1/verification.proto", {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

export const services = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;

// google.rpc.Status and its details, for the grpc-status-details-bin trailer.
const rpcRoot = new protobuf.Root();
rpcRoot.resolvePath = (_origin, target) =>
  path.isAbsolute(target) ? target : path.join(PROTO_DIR, target);
rpcRoot.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
rpcRoot.resolveAll();

export function rpcType(name: string): protobuf.Type {
  return rpcRoot.lookupType(name);
}
