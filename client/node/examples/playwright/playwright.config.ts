// Playwright Test for the signup example, in Debian's Chromium (no browser download):
// CHROMIUM_PATH overrides /usr/bin/chromium.
import { defineConfig } from "@playwright/test";
import { tmpdir } from "os";
import * as path from "path";

export default defineConfig({
  testDir: __dirname,
  outputDir: path.join(tmpdir(), `ismscode-harness-playwright-${process.pid}`),
  reporter: "list",
  timeout: 120_000,
  use: {
    browserName: "chromium",
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      // --no-sandbox: CI runs as root. The rest keeps Chromium off the network it has no
      // business with (on a closed network it would retry, and slow every start).
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    },
  },
});
