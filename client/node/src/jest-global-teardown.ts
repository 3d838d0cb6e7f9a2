// Jest `globalTeardown`: stops the gateway the global set-up started, if it did.
import type { Gateway } from "./gateway";
import { GATEWAY_GLOBAL } from "./jest-global-setup";

export default async function globalTeardown(): Promise<void> {
  const gateway = (globalThis as Record<string, unknown>)[GATEWAY_GLOBAL] as Gateway | undefined;
  await gateway?.stop();
}
