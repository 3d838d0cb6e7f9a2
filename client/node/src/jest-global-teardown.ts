// Jest `globalTeardown`: stops the gateway the global set-up started, if it did, and
// forgets it (a watch-mode re-run of the set-up then starts a new one).
import type { Gateway } from "./gateway";
import { GATEWAY_GLOBAL } from "./jest-global-setup";
import { OWN_GATEWAY_ENV } from "./session";

export default async function globalTeardown(): Promise<void> {
  const globals = globalThis as Record<string, unknown>;
  const gateway = globals[GATEWAY_GLOBAL] as Gateway | undefined;
  if (!gateway) return;
  delete globals[GATEWAY_GLOBAL];
  delete process.env.ISMSCODE_HARNESS_ADDR;
  delete process.env.ISMSCODE_MOCK_URL;
  delete process.env[OWN_GATEWAY_ENV];
  await gateway.stop();
}
