"""The Python client at its edges, against the session's gateway (the plugin's)."""
import json
import socket
import urllib.request
from datetime import timedelta

import grpc
import pytest

from ismscode_harness import Client, Heartbeat, errors, new_request_id
from ismscode_harness.pytest_plugin import create_mock_account


def free_port_nobody_listens_on():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_an_unreachable_gateway_names_the_address():
    address = f"127.0.0.1:{free_port_nobody_listens_on()}"
    with pytest.raises(errors.GatewayUnavailable) as e:
        Client(address, connect_timeout=0.3, use_environment=False)
    assert address in str(e.value)
    assert "ISMSCODE_HARNESS_ADDR" in str(e.value)
    lazy = Client(address, connect_timeout=0, use_environment=False)
    with pytest.raises(errors.GatewayUnavailable):
        lazy.list_countries()


def test_an_unreadable_ca_file_is_invalid_argument():
    with pytest.raises(errors.InvalidArgument, match="/nonexistent/ca.pem"):
        Client(tls_ca_file="/nonexistent/ca.pem", use_environment=False)


def test_the_address_comes_from_the_environment_unless_given(monkeypatch):
    monkeypatch.setenv("ISMSCODE_HARNESS_ADDR", "127.0.0.1:1")
    assert Client(connect_timeout=0).address == "127.0.0.1:1"
    assert Client("127.0.0.1:2", connect_timeout=0).address == "127.0.0.1:2"
    assert Client(connect_timeout=0, use_environment=False).address == "127.0.0.1:50051"


def test_request_ids_are_fresh():
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("req-") and len(i) == 36 for i in ids)


def test_every_reason_has_its_class():
    for name, reason in errors._REASON_OF.items():
        cls = errors.error_class(reason)
        assert cls.__name__ == name and issubclass(cls, errors.HarnessError)
    assert errors.error_class("SOMETHING_NEW") is errors.HarnessError


def test_bad_fields_are_typed_and_named(harness_client):
    with pytest.raises(errors.InvalidArgument) as e:
        harness_client.acquire("", "whatsapp")
    assert [f.field for f in e.value.bad_fields] == ["country"]
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(errors.InvalidService):
        harness_client.acquire("US", "no-such-service")
    with pytest.raises(errors.InvalidArgument) as negative:
        harness_client.acquire("US", "whatsapp", max_wait=-1)
    assert negative.value.bad_fields[0].field == "max_wait"
    number = harness_client.acquire("US", "whatsapp")
    with pytest.raises(errors.InvalidArgument) as timeout:
        harness_client.await_code(number.id, timeout=timedelta(seconds=-5))
    assert timeout.value.bad_fields[0].field == "timeout"


def test_a_generated_request_id_replays(harness_client):
    first = harness_client.acquire("US", "telegram")
    again = harness_client.acquire("US", "telegram", request_id=first.request_id)
    assert again.replayed and again.id == first.id and again.attempts == 0


def test_a_timeout_carries_the_last_heartbeat(harness_client):
    number = harness_client.acquire("US", "whatsapp")
    beats = []
    with pytest.raises(errors.CodeWaitTimeout) as e:
        harness_client.await_code(number.id, timeout=0.6, code_pattern=r"never (\d{12})",
                                  on_heartbeat=beats.append)
    assert beats and isinstance(beats[0], Heartbeat)
    assert e.value.last_heartbeat is not None
    assert "CODE_WAIT_TIMEOUT (DEADLINE_EXCEEDED)" in str(e.value)
    assert "last heartbeat" in str(e.value)


def test_the_stream_is_an_iterator_and_cancels(harness_client):
    number = harness_client.acquire("US", "whatsapp")
    stream = harness_client.stream(number.id, timeout=60, code_pattern=r"never (\d{12})")
    with pytest.raises(errors.Cancelled):
        for event in stream:
            assert isinstance(event, Heartbeat)
            stream.cancel()


def test_the_fixtures_give_a_number_and_its_code(harness, harness_number, harness_account):
    assert harness_number.phone.startswith("+1")
    assert harness_account is None or harness_account.startswith("pytest-")
    code = harness.await_code(harness_number, timeout=60)
    assert code.code.isalnum() and 4 <= len(code.code) <= 8


@pytest.mark.harness_number("GB", "telegram")
def test_the_marker_picks_country_and_service(harness_number):
    assert harness_number.country == "GB" and harness_number.service == "telegram"


def test_each_test_has_its_own_account(harness_session, harness_account):
    if harness_session.mock_url is None:
        pytest.skip("no mock behind this gateway")
    assert harness_account != create_mock_account(harness_session.mock_url)


def test_a_failing_helper_names_the_reason(harness):
    with pytest.raises(pytest.fail.Exception) as e:
        harness.acquire("US", "no-such-service")
    assert "INVALID_SERVICE" in str(e.value)


def test_secrets_that_are_not_printable_ascii_are_refused_without_quoting_them():
    for options in ({"token": "s3cret-token\r\n"}, {"caller_key": "s3cret-k\u00e9y"}):
        with pytest.raises(errors.InvalidArgument) as e:
            Client("127.0.0.1:1", connect_timeout=0, use_environment=False, **options)
        assert "s3cret" not in str(e.value)


def test_an_upstream_timeout_carries_the_request_id_to_repeat_with(harness_client,
                                                                     harness_session,
                                                                     harness_account):
    if harness_session.mock_url is None:
        pytest.skip("no mock behind this gateway")
    fault = json.dumps({"kind": "reset", "endpoint": "numbers.request", "key": harness_account,
                        "count": 1, "phase": "after"}).encode()
    urllib.request.urlopen(urllib.request.Request(
        harness_session.mock_url + "/_mock/v1/faults", data=fault, method="POST",
        headers={"Content-Type": "application/json"}), timeout=30)
    with pytest.raises(errors.UpstreamTimeout) as lost:
        harness_client.acquire("US", "whatsapp")
    assert lost.value.request_id and lost.value.request_id.startswith("req-")
    with pytest.raises(errors.UpstreamTimeout):  # the repeat never buys again
        harness_client.acquire("US", "whatsapp", request_id=lost.value.request_id)
