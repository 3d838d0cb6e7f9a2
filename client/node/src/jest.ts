// Jest helpers (with the global set-up and tear-down of this package, or
// ISMSCODE_HARNESS_ADDR given):
//
//   const { useHarness } = require("ismscode-harness/jest");
//   const harness = useHarness();
//   test("signup", async () => {
//     const number = await harness.acquire("US", "whatsapp");
//     ...
//     const code = await harness.awaitCode(number);
//   });
import type { AcquireOptions, AwaitCodeOptions, Client } from "./client";
import { openSession, TestHarness, type HarnessSession } from "./session";
import type { Code, PhoneNumber } from "./types";

export { TestHarness, type HarnessSession } from "./session";

type Hook = (fn: () => Promise<void> | void) => void;
const jestGlobals = globalThis as unknown as {
  beforeAll: Hook; afterAll: Hook; beforeEach: Hook; afterEach: Hook;
};

/** The current test's harness: its own account and client, made in a beforeEach hook
 * and closed in an afterEach hook. */
export interface JestHarness {
  readonly session: HarnessSession;
  readonly current: TestHarness;
  readonly client: Client;
  acquire(country?: string, service?: string, options?: AcquireOptions): Promise<PhoneNumber>;
  awaitCode(number: PhoneNumber, options?: AwaitCodeOptions): Promise<Code>;
}

export function useHarness(): JestHarness {
  if (typeof jestGlobals.beforeEach !== "function") {
    throw new Error("ismscode-harness/jest: useHarness() must run inside a Jest test file");
  }
  let session: HarnessSession | undefined;
  let current: TestHarness | undefined;
  jestGlobals.beforeAll(async () => {
    session = await openSession();
  });
  jestGlobals.afterAll(async () => {
    await session?.close();
  });
  jestGlobals.beforeEach(async () => {
    current = await TestHarness.open(session!);
  });
  jestGlobals.afterEach(() => {
    current?.close();
    current = undefined;
  });
  const now = (): TestHarness => {
    if (!current) throw new Error("ismscode-harness/jest: use the harness inside a test");
    return current;
  };
  return {
    get session() {
      if (!session) throw new Error("ismscode-harness/jest: the session opens in beforeAll");
      return session;
    },
    get current() {
      return now();
    },
    get client() {
      return now().client;
    },
    acquire: (country, service, options) => now().acquire(country, service, options),
    awaitCode: (number, options) => now().awaitCode(number, options),
  };
}
