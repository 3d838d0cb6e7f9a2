// A Playwright Test fixture: `harness` (this test's own account and client) and
// `harnessNumber` (a number acquired for the test; what it acquires is the option
// `harnessNumberOptions`, set with test.use()). The gateway is opened once per worker.
//
//   import { test, expect } from "ismscode-harness/playwright";
//   test.use({ harnessNumberOptions: { country: "US", service: "demoapp" } });
//   test("signup", async ({ page, harness, harnessNumber }) => { ... });
import { test as base } from "@playwright/test";
import type { AcquireOptions } from "./client";
import { openSession, TestHarness, type HarnessSession } from "./session";
import type { PhoneNumber } from "./types";

export { expect } from "@playwright/test";
export { TestHarness, type HarnessSession } from "./session";

export interface HarnessNumberOptions extends AcquireOptions {
  country?: string; // default US
  service?: string; // default whatsapp
}

export interface HarnessFixtures {
  harnessNumberOptions: HarnessNumberOptions;
  harness: TestHarness;
  harnessNumber: PhoneNumber;
}

export interface HarnessWorkerFixtures {
  harnessSession: HarnessSession;
}

export const test = base.extend<HarnessFixtures, HarnessWorkerFixtures>({
  harnessSession: [
    async ({}, use) => {
      const session = await openSession();
      await use(session);
      await session.close();
    },
    { scope: "worker" },
  ],
  harnessNumberOptions: [{}, { option: true }],
  harness: async ({ harnessSession }, use) => {
    const harness = await TestHarness.open(harnessSession);
    await use(harness);
    harness.close();
  },
  harnessNumber: async ({ harness, harnessNumberOptions }, use) => {
    const { country = "US", service = "whatsapp", ...options } = harnessNumberOptions;
    await use(await harness.acquire(country, service, options));
  },
});
