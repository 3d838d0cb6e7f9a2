"""Every case under tests/conformance/cases, through the Python client's public API,
against the launcher's mock and gateways. The reference runner is the C++ one
(tests/conformance/cpp/conformance_test.cc); the format is tests/conformance/README.md."""
import glob
import json
import os
import re
import secrets
import selectors
import subprocess
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pytest

from ismscode_harness import Client, Code, Heartbeat, errors

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = sorted(glob.glob(os.path.join(HERE, "..", "cases", "*.json")))
STEP_KINDS = {"list_countries", "list_services", "acquire", "await", "mock"}
STEP_FIELDS = STEP_KINDS | {"during", "client", "save", "expect"}
START_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def harness():
    args = [os.path.join(HERE, "..", "harness"), "--frozen-clock"]
    if os.environ.get("ISMSCODE_BIN_DIR"):
        args += ["--bin-dir", os.environ["ISMSCODE_BIN_DIR"]]
    launcher = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = selectors.DefaultSelector()
    ready.register(launcher.stdout, selectors.EVENT_READ)
    line = launcher.stdout.readline() if ready.select(timeout=START_TIMEOUT_S) else ""
    try:
        addresses = json.loads(line)
    except ValueError:
        launcher.stdin.close()
        try:
            launcher.wait(15)
        except subprocess.TimeoutExpired:
            launcher.kill()
        pytest.fail(f"the launcher did not start within {START_TIMEOUT_S} s: {line!r}")
    addresses["_launcher"] = launcher
    yield addresses
    launcher.stdin.close()  # stops the mock and gateways
    launcher.wait()


class Vars:
    REF = re.compile(r"\$\{([^}]*)\}")

    def __init__(self):
        self.values = {}

    def lookup(self, path):
        name, *parts = path.split(".")
        assert name in self.values, f"unknown variable ${{{path}}}"
        value = self.values[name]
        for part in parts:
            value = value[int(part)] if isinstance(value, list) else value[part]
        return value

    def sub(self, value):
        if isinstance(value, dict):
            return {k: self.sub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.sub(v) for v in value]
        if not isinstance(value, str):
            return value
        assert value.count("${") == len(self.REF.findall(value)), f"unterminated ${{ in {value}"
        whole = self.REF.fullmatch(value)
        if whole:
            return self.lookup(whole.group(1))
        return self.REF.sub(lambda m: (lambda v: v if isinstance(v, str) else json.dumps(v))(
            self.lookup(m.group(1))), value)


def expect_subset(expected, actual, where):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{where}.{k}: missing in {actual!r}"
            expect_subset(v, actual[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), \
            f"{where}: expected {len(expected)} elements, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            expect_subset(e, a, f"{where}[{i}]")
    else:
        # As strict as the C++ runner (nlohmann): true is not 1, "1" is not 1.
        numbers = (int, float)
        same_kind = (type(expected) is type(actual) or
                     (isinstance(expected, numbers) and isinstance(actual, numbers) and
                      not isinstance(expected, bool) and not isinstance(actual, bool)))
        assert same_kind and expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


def rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{t.microsecond // 1000:03d}Z"


def number_json(n):
    return {"id": n.id, "phone": n.phone, "country": n.country, "service": n.service,
            "expires_at": rfc3339(n.expires_at), "attempts": n.attempts,
            "replayed": n.replayed, "request_id": n.request_id}


def code_json(c: Code):
    return {"code": c.code, "raw_match": c.raw_match, "from": c.sms.sender, "text": c.sms.text,
            "received_at": rfc3339(c.sms.received_at)}


def error_json(e: errors.HarnessError):
    return {"grpc_code": e.code.name, "reason": e.reason, "message": e.message,
            "retry_info": e.retry_delay is not None,
            "bad_fields": [f.field for f in e.bad_fields], "metadata": dict(e.metadata)}


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class CaseRunner:
    def __init__(self, case, harness):
        self.case = case
        self.harness = harness
        self.key = f"case-{case['name']}-{secrets.token_hex(4)}"
        self.vars = Vars()
        self.main_steps = 0  # steps on the main gateway so far (a fleet alternates them)
        self.vars.values.update(key=self.key, run=self.key[5:],
                                gateway_key=harness["gateway_key"])

    def mock(self, raw, where):
        call = self.vars.sub(raw)
        method = call.get("method", "POST")
        data = None  # GET and DELETE carry no body, as in the C++ runner
        if method in ("POST", "PUT", "PATCH"):
            data = json.dumps(call["body"]).encode() if "body" in call else b""
        req = urllib.request.Request(self.harness["mock"] + "/_mock/v1/" + call["path"],
                                     data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        if "status" in call:
            assert status == call["status"], f"{where}: {call['path']} gave {status}: {body!r}"
        else:
            assert status // 100 == 2, f"{where}: {call['path']} gave {status}: {body!r}"
        try:
            return json.loads(body) if body else None
        except ValueError:
            return None

    def client_for(self, step):
        h = self.harness
        address, token, caller_key = h["grpc"], h["token"], self.key
        c = self.vars.sub(step.get("client", {}))
        if c.get("gateway") == "no_caller_keys":
            address, token, caller_key = h["grpc_no_caller_keys"], "", ""
        if c.get("gateway") == "drain":
            address, token = h["grpc_drain"], ""
        if c.get("gateway") == "state_down":
            address, token = h["grpc_state_down"], ""
        if c.get("gateway", "main") == "main" and "grpc_peer" in h:
            # A fleet: every other step on the main gateway goes to its peer.
            if self.main_steps % 2 == 1:
                address = h["grpc_peer"]
            self.main_steps += 1
        if "token" in c:
            token = c["token"] or ""
        if "caller_key" in c:
            caller_key = c["caller_key"] or ""
        return Client(address, token=token, caller_key=caller_key, use_environment=False)

    def run(self):
        account = {"key": self.key, "balance": 100, "rate_limit": "off",
                   **self.case.get("account", {})}
        self.mock({"method": "POST", "path": "accounts", "body": account, "status": 201},
                  "account")
        for call in self.case.get("setup", []):
            self.mock(call, "setup")
        for i, step in enumerate(self.case["steps"]):
            self.step(step, f"step {i}")

    def step(self, step, where):
        unknown = set(step) - STEP_FIELDS
        assert not unknown, f"{where}: unknown step fields {unknown}"
        assert "during" not in step or "await" in step, f"{where}: 'during' needs an await"
        if "mock" in step:
            body = self.mock(step["mock"], where)
            if "expect" in step:
                expect_subset(self.vars.sub(step["expect"]), body, where)
            if "save" in step:
                self.vars.values[step["save"]] = body
            return
        client = self.client_for(step)
        result, error, self.heartbeats = None, None, 0
        try:
            if "list_countries" in step:
                result = {"countries": [c.code for c in client.list_countries()]}
            elif "list_services" in step:
                result = {"services": client.list_services()}
            elif "acquire" in step:
                a = self.vars.sub(step["acquire"])
                result = number_json(client.acquire(
                    a.get("country", ""), a.get("service", ""),
                    fallback_countries=a.get("fallback_countries", []),
                    request_id=a.get("request_id", ""),
                    max_wait=a.get("max_wait_ms", 0) / 1000 if "max_wait_ms" in a else None,
                    deadline=a["deadline_ms"] / 1000 if "deadline_ms" in a else None))
            elif "await" in step:
                result = self.await_step(client, step, where)
            else:
                pytest.fail(f"{where}: no step kind")
        except errors.HarnessError as e:
            error = e
        finally:
            client.close()
            heartbeats = self.heartbeats
        expect = self.vars.sub(step.get("expect", {}))
        if "error" in expect:
            assert error is not None, f"{where}: expected an error, got {result!r}"
            actual = error_json(error)
            for k, v in expect["error"].items():
                if k == "message_contains":
                    assert v in actual["message"], f"{where}: {actual['message']!r} lacks {v!r}"
                elif k == "bad_fields":
                    assert set(v) == set(actual[k]), f"{where}: bad fields {actual[k]}"
                elif k == "metadata":
                    expect_subset(v, actual[k], f"{where}.metadata")
                else:
                    assert actual[k] == v, f"{where}.{k}: expected {v!r}, error was {actual!r}"
        else:
            assert error is None, f"{where}: {error}"
            if "ok" in expect:
                expect_subset(expect["ok"], result, where)
            if "save" in step:
                self.vars.values[step["save"]] = result
        if "min_heartbeats" in expect:
            assert heartbeats >= expect["min_heartbeats"], f"{where}: {heartbeats} heartbeats"

    def await_step(self, client, step, where):
        a = self.vars.sub(step["await"])
        during = step.get("during", [])
        cancel_after = a.get("cancel_after_heartbeats", 0)
        options = dict(code_pattern=a.get("code_pattern", ""),
                       sender_pattern=a.get("sender_pattern", ""),
                       min_code_length=a.get("min_code_length", 0),
                       max_code_length=a.get("max_code_length", 0),
                       follow=a.get("follow", False))
        if "timeout_ms" in a:
            options["timeout"] = a["timeout_ms"] / 1000
        for field in ("received_after", "sms_sent_at"):
            if field in a:
                options[field] = parse_time(a[field])
        fired, cancelled = 0, False
        codes = []
        try:
            stream = client.stream(a.get("number_id", ""), **options)
            for event in stream:
                if isinstance(event, Heartbeat):
                    self.heartbeats += 1
                    heartbeats = self.heartbeats
                    for d in during:
                        if d["after_heartbeats"] == heartbeats:
                            if "harness" in d:
                                self.harness["_launcher"].stdin.write(d["harness"] + "\n")
                                self.harness["_launcher"].stdin.flush()
                            else:
                                self.mock(d["mock"], where + " during")
                            fired += 1
                    if cancel_after and heartbeats == cancel_after:
                        stream.cancel()
                        cancelled = True
                else:
                    codes.append(code_json(event))  # read on to the stream's end, as C++
        finally:
            # A hook that never ran means the case checked less than it says.
            assert fired == len(during), f"{where}: {fired} of {len(during)} 'during' calls ran"
            assert cancelled == bool(cancel_after), f"{where}: cancel never reached"
        if options["follow"]:
            return {"codes": codes}
        if not codes:
            raise errors.HarnessError("the stream ended without a code")
        return codes[0]


def test_there_are_cases():
    assert CASES, "no case files under tests/conformance/cases"


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(p)[:-5] for p in CASES])
def test_case(path, harness):
    with open(path, encoding="utf-8") as f:
        case = json.load(f)
    CaseRunner(case, harness).run()
