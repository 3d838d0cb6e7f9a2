// The Jest suite: the package's global set-up starts one gateway (with its bundled mock)
// for the run unless ISMSCODE_HARNESS_ADDR is set; every test file's useHarness() uses it.
module.exports = {
  rootDir: __dirname,
  testMatch: ["<rootDir>/*.test.js"],
  globalSetup: "ismscode-harness/jest-global-setup",
  globalTeardown: "ismscode-harness/jest-global-teardown",
  testTimeout: 90_000,
  cacheDirectory: require("os").tmpdir() + "/ismscode-harness-jest-cache",
};
