// A signup test against the demo app (examples/signup-app) in a real browser, as a QA
// engineer writes it with the Playwright fixture: get a number, type it into the signup
// page, read the code the app texted through the gateway, type it, see "verified".
// The app: $SIGNUP_APP_URL, or the demo app started here, texting through the harness's
// mock (run with ISMSCODE_HARNESS_SCENARIO=app-sms: numbers get no SMS but the app's).
import { spawn } from "child_process";
import { once } from "events";
import { createInterface } from "readline";
import { findBinary } from "ismscode-harness";
import { test as harnessTest, expect } from "ismscode-harness/playwright";

const test = harnessTest.extend<{}, { appUrl: string }>({
  appUrl: [
    async ({ harnessSession }, use) => {
      if (process.env.SIGNUP_APP_URL) return use(process.env.SIGNUP_APP_URL);
      const binary = findBinary("ismscode-signup-app");
      test.skip(!binary || !harnessSession.mockUrl,
                "set SIGNUP_APP_URL, or build the demo app and run against a mock");
      const app = spawn(binary!, ["--port", "0", "--sms-url", `${harnessSession.mockUrl}/_mock/v1/sms`],
                        { stdio: ["ignore", "pipe", "inherit"] });
      const [line] = await once(createInterface({ input: app.stdout }), "line");
      await use(JSON.parse(line).url); // its first line: {"url": ...}
      app.kill();
    },
    { scope: "worker" },
  ],
});

test.use({ harnessNumberOptions: { country: "US", service: "demoapp" } });

test("a new user verifies their phone", async ({ page, appUrl, harness, harnessNumber }) => {
  await page.goto(appUrl);
  await page.locator("#phone").fill(harnessNumber.phone);
  await page.locator("#signup").click();
  await expect(page.locator("#status")).toHaveText("code sent");

  const code = await harness.awaitCode(harnessNumber, { timeoutMs: 60_000 });
  await page.locator("#code").fill(code.code);
  await page.locator("#verify").click();
  await expect(page.locator("#status")).toHaveText("verified");
});
