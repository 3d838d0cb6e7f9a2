// ismscode-harness: the gateway's Node client. Test-framework fixtures are in
// "ismscode-harness/node-test", "ismscode-harness/jest" and "ismscode-harness/playwright".
export * from "./client";
export * from "./errors";
export * from "./types";
export { startGateway, findBinary, createMockAccount, type Gateway } from "./gateway";
