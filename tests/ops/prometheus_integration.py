#!/usr/bin/env python3
"""The operations side against a real Prometheus (Debian's): the launcher's mock and
gateway (tests/conformance/harness, --fleet: its gateway shares its state through a
redis-server), a known workload through the gateway (codes, a
timeout, a stock-out, a 402, a 429, an upstream 503, polls held back by the rate
budget), then Prometheus on loopback with dashboards/prometheus/prometheus.yml (targets
and intervals rewritten) and its rules. It checks:
- every PromQL expression of the dashboard and every recording rule is valid and
  returns series, and every selector of every alert does;
- the success-ratio recording rule equals the workload's real ratio, counted from the
  gateway's own counters;
- the alerts the workload should raise are pending or firing, with their labels, and
  the others are not.
Prometheus scrapes from before the first event, so each failure is its series' first:
the alerts must see first events. The verification series start at zero (the gateway
creates them once the upstream lists a service), so rate()'s extrapolation is the same
for all of them and the ratio is exact."""
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
from ismscode_harness import Client, errors  # noqa: E402

BIN_DIR = os.environ.get("ISMSCODE_BIN_DIR") or os.path.join(ROOT, "build")
DEADLINE_S = 120  # for anything the test waits for; never a fixed sleep
NEVER = r"never (\d{12})"
# What the workload raises: {alert: the labels it must carry}.
EXPECTED_ALERTS = {"IsmscodeBalanceExhausted": {}, "IsmscodeUpstreamRateLimited": {},
                   "IsmscodeNoNumbersAvailable": {"country": "GB", "service": "telegram"},
                   "IsmscodeVerificationSuccessRateLow": {}}
QUIET_ALERTS = {"IsmscodeGatewayDown", "IsmscodeUpstreamUnavailable", "IsmscodeTimeToCodeHigh"}


def http_json(url, body=None, method=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text else None


def wait_until(what, check):
    """check() until it returns something true; fails after DEADLINE_S."""
    end = time.monotonic() + DEADLINE_S
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            sys.exit(f"FAIL: gave up waiting for {what}")
        time.sleep(0.2)  # a poll interval, not a wait for readiness


class Stack:
    def __init__(self, tmp):
        self.tmp = tmp
        self.prometheus = None
        self.api = None
        self.launcher = subprocess.Popen(
            [os.path.join(ROOT, "tests/conformance/harness"), "--bin-dir", BIN_DIR,
             "--scenario", "ci-fast", "--poll-interval-ms", "200",
             # The gateway as one of a fleet (--state, a redis-server of the launcher's):
             # the state store's panels have series too.
             "--fleet",
             # A small budget per key, so polls wait for it (the throttling panels).
             "--gateway-arg=--rate-limit=4", "--gateway-arg=--rate-window=1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.launcher.stdout.readline() or "null")

    def account(self, balance=1000):
        key = "ops-" + secrets.token_hex(4)
        http_json(self.info["mock"] + "/_mock/v1/accounts",
                  {"key": key, "balance": balance, "rate_limit": "off"})
        return key

    def fault(self, body):
        http_json(self.info["mock"] + "/_mock/v1/faults", body)

    def client(self, key):
        return Client(self.info["grpc"], token=self.info["token"], caller_key=key,
                      use_environment=False)

    def start_prometheus(self):
        config = yaml.safe_load(open(os.path.join(ROOT, "dashboards/prometheus/prometheus.yml")))
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [os.path.join(ROOT, "dashboards/prometheus", f)
                                for f in config["rule_files"]]
        targets = {"ismscode-gateway": urllib.parse.urlparse(self.info["metrics"]).netloc,
                   "ismscode-mock": urllib.parse.urlparse(self.info["mock"]).netloc}
        for job in config["scrape_configs"]:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        path = os.path.join(self.tmp, "prometheus.yml")
        yaml.safe_dump(config, open(path, "w"))
        self.prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={path}", f"--storage.tsdb.path={self.tmp}/data",
             "--web.listen-address=127.0.0.1:0", "--log.format=json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        found = threading.Event()

        def read():  # to the end, so Prometheus never blocks on a full pipe
            for line in self.prometheus.stderr:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("msg") == "Listening on" and not found.is_set():
                    self.api = f"http://{entry['address']}/api/v1"
                    found.set()
        threading.Thread(target=read, daemon=True).start()
        if not found.wait(DEADLINE_S):
            sys.exit("FAIL: Prometheus did not listen")
        base = self.api.rsplit("/api/v1", 1)[0]

        def ready():
            try:
                return urllib.request.urlopen(base + "/-/ready", timeout=5).status == 200
            except (urllib.error.URLError, OSError):
                return False
        wait_until("Prometheus to be ready", ready)

    def query(self, expr):
        url = self.api + "/query?" + urllib.parse.urlencode({"query": expr})
        try:
            body = http_json(url)
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                return None, json.loads(text).get("error", text)
            except ValueError:
                return None, f"{e.code} {text.strip()}"
        return body["data"]["result"], None

    def stop(self):
        for process, stop in ((self.prometheus, lambda p: p.terminate()),
                              (self.launcher, lambda p: p.stdin.close())):
            if process is None:
                continue
            stop(process)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def gateway_counter(stack, metric, labels):
    """A counter's value from the gateway's /metrics, summed over series with labels."""
    text = urllib.request.urlopen(stack.info["metrics"], timeout=30).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def expect_error(cls, call):
    try:
        call()
    except cls:
        return
    except errors.HarnessError as e:
        sys.exit(f"FAIL: expected {cls.__name__}, got {e}")
    sys.exit(f"FAIL: expected {cls.__name__}, the call succeeded")


def workload(stack, keys, codes):
    """codes verifications that get their code, one timeout, and one of each failure."""
    main = stack.client(keys["main"])
    numbers = [main.acquire("US", "whatsapp") for _ in range(codes)]
    waits = [threading.Thread(target=main.await_code, args=(n.id,), kwargs={"timeout": 60})
             for n in numbers]  # at once: their polls compete for the key's budget
    for w in waits:
        w.start()
    for w in waits:
        w.join()
    lonely = main.acquire("US", "whatsapp")
    expect_error(errors.CodeWaitTimeout,
                 lambda: main.await_code(lonely.id, timeout=1, code_pattern=NEVER))
    stack.fault({"kind": "no_numbers_available", "key": keys["stock"], "country": "GB", "count": 1})
    expect_error(errors.NoNumbersAvailable,
                 lambda: stack.client(keys["stock"]).acquire("GB", "telegram"))
    expect_error(errors.InsufficientBalance,
                 lambda: stack.client(keys["broke"]).acquire("US", "whatsapp"))
    stack.fault({"kind": "rate_limit_exceeded", "endpoint": "numbers.request",
                 "key": keys["limited"], "count": 1, "retry_after_seconds": 1})
    expect_error(errors.RateLimitExceeded,
                 lambda: stack.client(keys["limited"]).acquire("US", "whatsapp"))
    stack.fault({"kind": "http_503", "endpoint": "numbers.request", "key": keys["flaky"],
                 "count": 1})
    expect_error(errors.UpstreamUnavailable,
                 lambda: stack.client(keys["flaky"]).acquire("US", "whatsapp"))


def dashboard_exprs():
    for path in sorted(os.listdir(os.path.join(ROOT, "dashboards/grafana/dashboards"))):
        d = json.load(open(os.path.join(ROOT, "dashboards/grafana/dashboards", path)))
        for panel in d["panels"]:
            for target in panel.get("targets", []):
                expr = (target["expr"].replace("$__rate_interval", "1m")
                        .replace("$__range", "5m").replace("$service", ".*"))
                yield f"{path}: {panel['title']}", expr


def rules():
    for name in ("recording.yml", "alerts.yml"):
        for group in yaml.safe_load(open(os.path.join(ROOT, "dashboards/prometheus/rules", name)))["groups"]:
            yield from group["rules"]


def main():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(tmp)
        try:
            if not stack.info:
                sys.exit("FAIL: the launcher did not start")
            keys = {"main": stack.account(), "stock": stack.account(), "broke": stack.account(0),
                    "limited": stack.account(), "flaky": stack.account()}
            # The gateway lists the services at start: their verification series exist.
            wait_until("the verification series at zero", lambda: gateway_counter(
                stack, "ismscode_verifications_total", {"service": "whatsapp"}) == 0 and
                "ismscode_verifications_total{" in urllib.request.urlopen(
                    stack.info["metrics"], timeout=30).read().decode())
            stack.start_prometheus()
            wait_until("two scrapes of the gateway and the mock", lambda: all(
                (r := stack.query(f'count_over_time(up{{job="{job}"}}[1m]) >= 2')[0])
                for job in ("ismscode-gateway", "ismscode-mock")))

            before = {o: gateway_counter(stack, "ismscode_verifications_total", {"outcome": o})
                      for o in ("code_received", "timeout")}
            workload(stack, keys, codes=3)
            after = {o: gateway_counter(stack, "ismscode_verifications_total", {"outcome": o})
                     for o in ("code_received", "timeout")}
            received = after["code_received"] - before["code_received"]
            real_ratio = received / (received + after["timeout"] - before["timeout"])
            done = time.time()
            # Scrapes 3 s after the workload (a series its last events created then has the
            # two samples rate() needs), then a rule evaluation after those.
            wait_until("scrapes after the workload", lambda: all(
                (r := stack.query(f'timestamp(up{{job="{job}"}})')[0]) and
                float(r[0]["value"][1]) > done + 3 for job in ("ismscode-gateway", "ismscode-mock")))
            wait_until("a rule evaluation after that", lambda: (r := stack.query(
                "timestamp(ismscode:verifications:success_ratio_rate5m)")[0]) and float(
                r[0]["value"][1]) > done + 4)

            ratio, _ = stack.query("ismscode:verifications:success_ratio_rate5m")
            recorded = float(ratio[0]["value"][1]) if ratio else None
            print(f"success ratio: workload {real_ratio:.6f}, recording rule {recorded}")
            if recorded is None or abs(recorded - real_ratio) > 1e-9:
                failures.append(f"the success-ratio rule says {recorded}, the workload {real_ratio}")

            checked = 0
            for where, expr in dashboard_exprs():
                result, error = stack.query(expr)
                checked += 1
                if error or not result:
                    failures.append(f"{where}: {error or 'no series'}: {expr}")
                elif "histogram_quantile" not in expr and all(
                        s["value"][1] == "NaN" for s in result):
                    failures.append(f"{where}: only NaN: {expr}")
            for rule in rules():
                name = rule.get("record") or rule["alert"]
                result, error = stack.query(rule["expr"])
                checked += 1
                if error:
                    failures.append(f"rule {name}: invalid: {error}")
                elif "record" in rule and not result:
                    failures.append(f"recording rule {name}: no series")
                elif "alert" in rule:
                    # An alert's expression is empty while it does not fire; its selectors
                    # must still find series, or it could never fire.
                    for selector in re.findall(r"\b[a-z_:]+\{[^}]*\}|\b[a-z]+_[a-z_]+_total\b",
                                               rule["expr"]):
                        sel, _ = stack.query(selector)
                        if not sel:
                            failures.append(f"alert {name}: {selector} finds no series")

            alerts = stack.query("ALERTS")[0] or []
            active = {a["metric"]["alertname"]: a["metric"] for a in alerts}
            print("alerts:", json.dumps({k: v["alertstate"] for k, v in active.items()},
                                        sort_keys=True))
            for alert, labels in sorted(EXPECTED_ALERTS.items()):
                if alert not in active:
                    failures.append(f"alert {alert} is neither pending nor firing")
                elif any(active[alert].get(k) != v for k, v in labels.items()):
                    failures.append(f"alert {alert} has labels {active[alert]}, want {labels}")
            for alert in sorted(QUIET_ALERTS & set(active)):
                failures.append(f"alert {alert} is {active[alert]['alertstate']}: it should not be")
            print(f"{checked} expressions evaluated")
        finally:
            stack.stop()
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
