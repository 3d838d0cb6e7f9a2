// Starting `ismscode-gateway` with its bundled mock for a test run (the fixtures do it
// when no gateway address is given), and the mock's accounts that keep tests apart.
import { spawn } from "child_process";
import { randomBytes } from "crypto";
import { accessSync, constants } from "fs";
import * as path from "path";
import * as readline from "readline";

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
// dist/ -> client/node -> client -> the checkout, when the package runs from one.
const REPO = path.resolve(__dirname, "..", "..", "..");
const SUBDIR: Record<string, string> = {
  "ismscode-gateway": "server",
  "ismscode-mock": "mock",
  "ismscode-signup-app": "examples/signup-app",
};

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `name` in $ISMSCODE_BIN_DIR (a build tree or an install's bin/), on PATH, or in this
 * checkout's build/ tree; undefined when it is nowhere. */
export function findBinary(name: string): string | undefined {
  const sub = SUBDIR[name] ?? "";
  const candidates: string[] = [];
  const binDir = process.env.ISMSCODE_BIN_DIR;
  if (binDir) candidates.push(path.join(binDir, name), path.join(binDir, sub, name));
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, name));
  }
  candidates.push(path.join(REPO, "build", sub, name));
  return candidates.find(executable);
}

export interface Gateway {
  /** HOST:PORT of its gRPC server. */
  address: string;
  /** The bundled mock's base URL (its control API is under /_mock/v1). */
  mockUrl: string;
  /** Stops it (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
}

export interface StartGatewayOptions {
  /** The bundled mock's scenario. Default ci-fast. */
  scenario?: string;
  /** More ismscode-gateway flags. */
  args?: string[];
}

/** `ismscode-gateway` with its bundled mock on free loopback ports, open (no token) and
 * taking caller keys. It dies with this process, even a killed one (setpriv). */
export async function startGateway(options: StartGatewayOptions = {}): Promise<Gateway> {
  const binary = findBinary("ismscode-gateway");
  if (!binary) {
    throw new Error(
      "ismscode-harness: no gateway to use: set ISMSCODE_HARNESS_ADDR, or put " +
        "ismscode-gateway on PATH or set ISMSCODE_BIN_DIR (or build the repo)");
  }
  const args = [
    binary, "--listen", "127.0.0.1:0", "--metrics-listen", "off", "--allow-caller-keys",
    "--mock-scenario", options.scenario ?? "ci-fast", "--poll-interval-ms", "250",
    "--no-call-logs", ...(options.args ?? []),
  ];
  // setpriv (util-linux) makes the kernel stop the gateway when this process dies.
  const setpriv = "/usr/bin/setpriv";
  const child = executable(setpriv)
    ? spawn(setpriv, ["--pdeathsig", "TERM", "--", ...args], { stdio: ["ignore", "ignore", "pipe"] })
    : spawn(args[0], args.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);

  const log: string[] = [];
  let mockUrl = "";
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`no "listening" line within ${START_TIMEOUT_MS / 1000} s`),
                             START_TIMEOUT_MS);
    function fail(why: string) {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`ismscode-harness: the gateway did not start (${why}):\n` +
                       log.slice(-20).join("\n")));
    }
    child.on("error", (e) => fail(e.message));
    child.on("exit", (code, signal) => fail(`it exited with ${signal ?? code}`));
    // Read stderr to its end, so the gateway never blocks on a full pipe.
    readline.createInterface({ input: child.stderr! }).on("line", (line) => {
      if (log.length < 200) log.push(line);
      let entry: { msg?: string; mock?: string; port?: number };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg?.includes("bundled mock") && entry.mock) {
        mockUrl = entry.mock.replace(/\/api\/v3$/, "");
      }
      if (entry.msg?.includes("listening") && entry.port) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve(`127.0.0.1:${entry.port}`);
      }
    });
  });
  // A test run that forgets stop() still ends: nothing here keeps the event loop alive.
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();

  return {
    address,
    mockUrl,
    stop: () =>
      new Promise<void>((resolve) => {
        process.removeListener("exit", killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

/** A fresh account on the mock (its control API, at mockUrl/_mock/v1): its key. Use it
 * as a client's callerKey, and no other test shares its balance, stock or rate budget. */
export async function createMockAccount(mockUrl: string, balance = 1000): Promise<string> {
  const key = "node-" + randomBytes(6).toString("hex");
  const response = await fetch(mockUrl + "/_mock/v1/accounts", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ key, balance, rate_limit: "off" }),
    signal: AbortSignal.timeout(30_000),
  });
  if (response.status !== 201) {
    throw new Error(`cannot create a mock account at ${mockUrl}: ${response.status} ` +
                    (await response.text()));
  }
  return key;
}
