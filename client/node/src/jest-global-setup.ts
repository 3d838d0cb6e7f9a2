// Jest `globalSetup`: without ISMSCODE_HARNESS_ADDR, starts the gateway with its bundled
// mock once for the run and hands its address to the workers through the environment.
//   // jest.config.js
//   module.exports = { globalSetup: "ismscode-harness/jest-global-setup",
//                      globalTeardown: "ismscode-harness/jest-global-teardown" };
import { startGateway, type Gateway } from "./gateway";
import { OWN_GATEWAY_ENV } from "./session";

export const GATEWAY_GLOBAL = "__ismscodeHarnessGateway";

export default async function globalSetup(): Promise<void> {
  if (process.env.ISMSCODE_HARNESS_ADDR) return;
  const gateway: Gateway = await startGateway({
    scenario: process.env.ISMSCODE_HARNESS_SCENARIO ?? "ci-fast",
  });
  (globalThis as Record<string, unknown>)[GATEWAY_GLOBAL] = gateway;
  process.env.ISMSCODE_HARNESS_ADDR = gateway.address;
  process.env.ISMSCODE_MOCK_URL = gateway.mockUrl;
  process.env[OWN_GATEWAY_ENV] = "1";
}
