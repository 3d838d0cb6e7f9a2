"""pytest plugin (entry point `pytest11: ismscode_harness`): numbers and their codes as
fixtures.

    def test_signup(harness, harness_number):
        app.sign_up(harness_number.phone)
        code = harness.await_code(harness_number)      # fails the test with the reason
        assert app.verify(harness_number.phone, code.code)

The gateway: --harness-addr, else ISMSCODE_HARNESS_ADDR (with ISMSCODE_HARNESS_TOKEN /
ISMSCODE_HARNESS_CA), else the plugin starts `ismscode-gateway` with its bundled mock for
the session (found on PATH, in $ISMSCODE_BIN_DIR or in the build tree; scenario
--harness-scenario or ISMSCODE_HARNESS_SCENARIO, default ci-fast): offline, no set-up.
With a mock (the bundled one, or ISMSCODE_MOCK_URL), every test gets its own mock account
as its caller key, so tests running in parallel share no balance, stock or rate budget.
"""
from __future__ import annotations

import collections
import ctypes
import json
import os
import signal
import secrets
import shutil
import subprocess
import threading
import urllib.request
import warnings
from dataclasses import dataclass
from typing import IO, Any, Deque, Iterator, Optional, cast

import pytest

from . import errors
from .client import Client
from .types import Code, Number

_START_TIMEOUT_S = 60
_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ismscode-harness")
    group.addoption("--harness-addr", default=None,
                    help="the gateway's HOST:PORT (default: $ISMSCODE_HARNESS_ADDR, else a "
                         "gateway with its bundled mock started for the session)")
    group.addoption("--harness-scenario", default=None,
                    help="scenario of the bundled mock (default: $ISMSCODE_HARNESS_SCENARIO "
                         "or ci-fast)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "harness_number(country='US', service='whatsapp', **acquire_options): "
                   "what the harness_number fixture acquires")


def find_binary(name: str) -> Optional[str]:
    """`name` in $ISMSCODE_BIN_DIR (a build tree or an install's bin/), on PATH, or in
    this checkout's build/ tree."""
    sub = {"ismscode-gateway": "server", "ismscode-signup-app": "examples/signup-app",
           "ismscode-mock": "mock"}.get(name, "")
    candidates = []
    bin_dir = os.environ.get("ISMSCODE_BIN_DIR")
    if bin_dir:
        candidates += [os.path.join(bin_dir, name), os.path.join(bin_dir, sub, name)]
    found = shutil.which(name)
    if found:
        candidates.append(found)
    candidates.append(os.path.join(_REPO, "build", sub, name))
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when pytest dies, even by SIGKILL."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Gateway:
    """`ismscode-gateway` with its bundled mock, on free loopback ports."""

    def __init__(self, scenario: str) -> None:
        binary = find_binary("ismscode-gateway")
        if binary is None:
            raise pytest.UsageError(
                "ismscode-harness: no gateway to use: pass --harness-addr or set "
                "ISMSCODE_HARNESS_ADDR, or put ismscode-gateway on PATH (or build the repo)")
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--metrics-listen", "off", "--allow-caller-keys",
             "--mock-scenario", scenario, "--poll-interval-ms", "250", "--no-call-logs"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            encoding="utf-8", errors="replace", start_new_session=True,
            preexec_fn=_die_with_parent)
        self.address: Optional[str] = None
        self.mock_url: Optional[str] = None
        # The last lines it logged, for the error when it fails to start or dies early.
        self._log: Deque[str] = collections.deque(maxlen=50)
        ready = threading.Event()
        stderr = cast(IO[str], self.proc.stderr)  # a pipe: stderr=PIPE above

        def read() -> None:  # to the end, so the gateway never blocks on a full pipe
            for line in stderr:
                self._log.append(line)
                if ready.is_set():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if "bundled mock" in entry.get("msg", ""):
                    self.mock_url = entry["mock"].rsplit("/api/v3", 1)[0]
                if "listening" in entry.get("msg", ""):
                    self.address = f"127.0.0.1:{entry['port']}"
                    ready.set()
            ready.set()  # it exited before listening

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(_START_TIMEOUT_S) or self.address is None:
            self.stop()
            raise pytest.UsageError("ismscode-harness: the gateway did not start:\n" +
                                    "".join(list(self._log)[-20:]))

    def stop(self) -> None:
        """Stops it; if it had died on its own, says so with its last lines (the tests'
        GATEWAY_UNAVAILABLE errors then have a cause)."""
        code = self.proc.poll()
        if code is not None:
            warnings.warn(f"ismscode-harness: the gateway exited early ({code}); its last "
                          "lines:\n" + "".join(self._log), stacklevel=1)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class HarnessSession:
    address: str
    mock_url: Optional[str]  # None: no mock to give accounts (e.g. the real API)
    started_here: bool = False  # the plugin's own gateway


@pytest.fixture(scope="session")
def harness_session(request: pytest.FixtureRequest) -> Iterator[HarnessSession]:
    """Where the gateway is for this session (and the mock behind it, if any)."""
    address = request.config.getoption("--harness-addr") or os.environ.get(
        "ISMSCODE_HARNESS_ADDR")
    if address:
        yield HarnessSession(address, os.environ.get("ISMSCODE_MOCK_URL") or None)
        return
    scenario = (request.config.getoption("--harness-scenario") or
                os.environ.get("ISMSCODE_HARNESS_SCENARIO") or "ci-fast")
    gateway = _Gateway(scenario)
    assert gateway.address is not None
    try:
        yield HarnessSession(gateway.address, gateway.mock_url, started_here=True)
    finally:
        gateway.stop()


def create_mock_account(mock_url: str, balance: float = 1000) -> str:
    """A fresh account on the mock (its control API): its key."""
    key = "pytest-" + secrets.token_hex(6)
    body = json.dumps({"key": key, "balance": balance, "rate_limit": "off"}).encode()
    req = urllib.request.Request(mock_url + "/_mock/v1/accounts", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201, f"cannot create a mock account: {r.status}"
    return key


@pytest.fixture
def harness_account(harness_session: HarnessSession) -> Optional[str]:
    """This test's own mock account key (None without a mock)."""
    if harness_session.mock_url is None:
        return None
    return create_mock_account(harness_session.mock_url)


@pytest.fixture
def harness_client(harness_session: HarnessSession,
                   harness_account: Optional[str]) -> Iterator[Client]:
    """A client of the session's gateway, with this test's account as its caller key."""
    # The plugin's own gateway is plaintext and open: the environment's TLS or token
    # settings are for a given one.
    own = harness_session.started_here
    client = Client(harness_session.address, caller_key=harness_account or "",
                    use_environment=not own)
    yield client
    client.close()


class Harness:
    """The client, with helpers that fail the test (naming the reason, the message and
    the last heartbeat) instead of raising."""

    def __init__(self, client: Client, session: HarnessSession,
                 account: Optional[str]) -> None:
        self.client = client
        self.mock_url = session.mock_url
        self.account = account

    def acquire(self, country: str = "US", service: str = "whatsapp",
                **options: Any) -> Number:
        try:
            return self.client.acquire(country, service, **options)
        except errors.HarnessError as e:
            pytest.fail(f"acquire({country}, {service}) failed: {e}", pytrace=False)

    def await_code(self, number: Number, **options: Any) -> Code:
        try:
            return self.client.await_code(number.id, **options)
        except errors.HarnessError as e:
            pytest.fail(f"await_code({number.phone}) failed: {e}", pytrace=False)

    def __getattr__(self, name: str) -> Any:  # the rest of the client: stream, lists, ...
        return getattr(self.client, name)


@pytest.fixture
def harness(harness_client: Client, harness_session: HarnessSession,
            harness_account: Optional[str]) -> Harness:
    return Harness(harness_client, harness_session, harness_account)


@pytest.fixture
def harness_number(request: pytest.FixtureRequest, harness: Harness) -> Number:
    """A freshly acquired number: country and service from @pytest.mark.harness_number,
    from indirect parametrisation (a dict), or US / whatsapp."""
    options = {"country": "US", "service": "whatsapp"}
    marker = request.node.get_closest_marker("harness_number")
    if marker:
        if len(marker.args) > 2:
            raise pytest.UsageError("harness_number takes (country, service) and keywords")
        options.update(dict(zip(("country", "service"), marker.args)), **marker.kwargs)
    if hasattr(request, "param"):
        if not isinstance(request.param, dict):
            raise pytest.UsageError("indirect harness_number parameters must be dicts")
        options.update(request.param)
    return harness.acquire(**options)
