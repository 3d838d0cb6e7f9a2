"""A signup test against the demo app (examples/signup-app), as a QA engineer writes it
with the pytest plugin: get a number, sign up with it, read the code the app texted,
verify. The app: $SIGNUP_APP_URL, or the demo app started here, texting through the
harness's mock (run with ISMSCODE_HARNESS_SCENARIO=app-sms: numbers get no SMS but the
app's)."""
import json
import os
import subprocess
import urllib.request

import pytest

from ismscode_harness.pytest_plugin import find_binary


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture(scope="session")
def app_url(harness_session):
    """The app under test: $SIGNUP_APP_URL, or the demo app started beside the mock."""
    if os.environ.get("SIGNUP_APP_URL"):
        yield os.environ["SIGNUP_APP_URL"]
        return
    binary = find_binary("ismscode-signup-app")
    if binary is None or harness_session.mock_url is None:
        pytest.skip("set SIGNUP_APP_URL, or build the demo app and run against a mock")
    app = subprocess.Popen([binary, "--port", "0", "--sms-url",
                            harness_session.mock_url + "/_mock/v1/sms"],
                           stdout=subprocess.PIPE, text=True)
    try:
        yield json.loads(app.stdout.readline())["url"]  # its first line: {"url": ...}
    finally:
        app.terminate()
        app.wait()


@pytest.mark.harness_number("US", "demoapp")
def test_new_user_verifies_their_phone(harness, harness_number, app_url):
    assert post(app_url + "/signup", {"phone": harness_number.phone})["status"] == "sent"
    code = harness.await_code(harness_number, timeout=60)
    assert post(app_url + "/verify", {"phone": harness_number.phone, "code": code.code}) == {
        "verified": True}
