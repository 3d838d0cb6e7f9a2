"""The Python client of the ismscode-harness gateway."""
from __future__ import annotations

import os
import secrets
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence, Union

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from . import errors
from ._gen import verification_pb2 as pb
from ._gen import verification_pb2_grpc as pb_grpc
from .types import Code, Country, Heartbeat, Number, Sms

DEFAULT_ADDRESS = "127.0.0.1:50051"
_DEFAULT_AWAIT = timedelta(seconds=120)
_STREAM_MARGIN = timedelta(seconds=15)  # the gateway's own timeout answers first
_ACQUIRE_MARGIN = timedelta(seconds=30)

Seconds = Union[float, int, timedelta]


_LONGEST_WAIT = timedelta(days=365)  # longer waits are taken as a year


def _delta(value: Optional[Seconds], name: str) -> Optional[timedelta]:
    if value is None:
        return None
    if isinstance(value, timedelta):
        delta = value
    else:
        delta = _LONGEST_WAIT if value > _LONGEST_WAIT.total_seconds() else timedelta(
            seconds=value)
    if delta < timedelta(0):
        raise errors.InvalidArgument(f"{name} cannot be negative",
                                     code=grpc.StatusCode.INVALID_ARGUMENT,
                                     bad_fields=[errors.BadField(name, "must not be negative")])
    return min(delta, _LONGEST_WAIT)


def _time(ts: timestamp_pb2.Timestamp) -> datetime:
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=timezone.utc)


def new_request_id() -> str:
    """A fresh idempotency key: "req-" and 32 random hex digits."""
    return "req-" + secrets.token_hex(16)


class CodeStream:
    """One AwaitCode stream: iterate for Heartbeat and Code events; cancel() from any
    thread ends it with errors.Cancelled. Errors are raised by the iteration."""

    def __init__(self, call: Any, address: str) -> None:
        self._call = call
        self._address = address
        self._cancelled = threading.Event()
        self.last_heartbeat: Optional[Heartbeat] = None

    def cancel(self) -> None:
        self._cancelled.set()
        self._call.cancel()

    def __enter__(self) -> "CodeStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self._call.cancel()  # harmless on a finished call

    def __iter__(self) -> Iterator[Union[Heartbeat, Code]]:
        try:
            for event in self._call:
                if event.HasField("waiting"):
                    w = event.waiting
                    self.last_heartbeat = Heartbeat(w.polls, _time(w.next_poll_at),
                                                    _time(w.expires_at), w.last_upstream_error,
                                                    w.waiting_for_budget)
                    yield self.last_heartbeat
                elif event.HasField("code_received"):
                    c = event.code_received
                    yield Code(c.code, c.raw_match,
                               Sms(getattr(c.sms, "from"), c.sms.text,
                                   _time(c.sms.received_at)))
        except grpc.RpcError as e:
            if self._cancelled.is_set() and e.code() == grpc.StatusCode.CANCELLED:
                raise errors.Cancelled("the wait was cancelled", code=grpc.StatusCode.CANCELLED,
                                       last_heartbeat=self.last_heartbeat) from None
            raise errors.from_rpc_error(e, self._address, self.last_heartbeat) from None
        finally:
            # A caller that leaves the loop (break, an exception in its body) ends the
            # stream, so the gateway stops polling for it.
            self._call.cancel()


class Client:
    """A client for one gateway. Thread-safe. Empty arguments come from the environment:
    ISMSCODE_HARNESS_ADDR (default 127.0.0.1:50051), ISMSCODE_HARNESS_TOKEN,
    ISMSCODE_HARNESS_CA (a PEM CA: TLS), ISMSCODE_HARNESS_CALLER_KEY (your own upstream
    key). connect_timeout: seconds to wait for the gateway (0: the first call will)."""

    def __init__(self, address: str = "", *, token: str = "", tls_ca_file: str = "",
                 tls: bool = False, caller_key: str = "", use_environment: bool = True,
                 connect_timeout: float = 5.0, list_timeout: float = 30.0) -> None:
        env: Mapping[str, str] = os.environ
        if not use_environment:
            env = {}
        self.address = address or env.get("ISMSCODE_HARNESS_ADDR", "") or DEFAULT_ADDRESS
        token = token or env.get("ISMSCODE_HARNESS_TOKEN", "")
        tls_ca_file = tls_ca_file or env.get("ISMSCODE_HARNESS_CA", "")
        caller_key = caller_key or env.get("ISMSCODE_HARNESS_CALLER_KEY", "")
        # gRPC refuses other metadata bytes, and its error would quote the secret.
        for name, value in (("token", token), ("caller_key", caller_key)):
            if any(not " " <= ch <= "~" for ch in value):
                raise errors.InvalidArgument(
                    f"{name} must be printable ASCII (no line breaks)",
                    code=grpc.StatusCode.INVALID_ARGUMENT,
                    bad_fields=[errors.BadField(name, "must be printable ASCII")])
        self._metadata: List[tuple] = []
        if token:
            self._metadata.append(("authorization", "Bearer " + token))
        if caller_key:
            self._metadata.append(("x-ismscode-api-key", caller_key))
        if tls_ca_file:
            try:
                with open(tls_ca_file, "rb") as f:
                    roots = f.read()
            except OSError as e:
                raise errors.InvalidArgument(
                    f"cannot read the TLS CA file {tls_ca_file}: {e.strerror}",
                    code=grpc.StatusCode.INVALID_ARGUMENT) from None
            self._channel = grpc.secure_channel(self.address, grpc.ssl_channel_credentials(roots))
        elif tls:
            self._channel = grpc.secure_channel(self.address, grpc.ssl_channel_credentials())
        else:
            self._channel = grpc.insecure_channel(self.address)
        self._stub = pb_grpc.VerificationServiceStub(self._channel)
        self._list_timeout = list_timeout
        if connect_timeout > 0:
            try:
                grpc.channel_ready_future(self._channel).result(timeout=connect_timeout)
            except grpc.FutureTimeoutError:
                self._channel.close()
                raise errors.GatewayUnavailable(
                    f"cannot reach the gateway at {self.address} within {connect_timeout:g} s: "
                    "start it (scripts/run) or set ISMSCODE_HARNESS_ADDR",
                    code=grpc.StatusCode.UNAVAILABLE) from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unary(self, method: Any, request: Any, timeout: float) -> Any:
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e, self.address) from None

    def list_countries(self) -> List[Country]:
        r = self._unary(self._stub.ListCountries, pb.ListCountriesRequest(), self._list_timeout)
        return [Country(c.code, c.name, c.dial_prefix) for c in r.countries]

    def list_services(self) -> List[str]:
        r = self._unary(self._stub.ListServices, pb.ListServicesRequest(), self._list_timeout)
        return list(r.services)

    def acquire(self, country: str, service: str, *, fallback_countries: Sequence[str] = (),
                request_id: str = "", max_wait: Optional[Seconds] = None,
                deadline: Optional[Seconds] = None) -> Number:
        """A number. A request id is generated when none is given and returned in
        Number.request_id: after UpstreamTimeout, repeat with it and nothing is bought
        twice."""
        max_wait_d = _delta(max_wait, "max_wait") or timedelta(0)
        deadline_d = _delta(deadline, "deadline") or (max_wait_d + _ACQUIRE_MARGIN)
        request = pb.AcquireNumberRequest(country=country, service=service,
                                          fallback_countries=list(fallback_countries),
                                          request_id=request_id or new_request_id())
        if max_wait_d > timedelta(0):
            request.max_wait.FromTimedelta(max_wait_d)
        try:
            r = self._unary(self._stub.AcquireNumber, request, deadline_d.total_seconds())
        except errors.HarnessError as e:
            e.request_id = request.request_id
            raise
        n = r.number
        return Number(n.id, n.phone, n.country, n.service, _time(n.expires_at), r.attempts,
                      r.replayed, request.request_id)

    def stream(self, number_id: str, *, timeout: Optional[Seconds] = None,
               code_pattern: str = "", sender_pattern: str = "", min_code_length: int = 0,
               max_code_length: int = 0, received_after: Optional[datetime] = None,
               sms_sent_at: Optional[datetime] = None, follow: bool = False) -> CodeStream:
        """The AwaitCode stream itself: iterate it for Heartbeat and Code events.
        sms_sent_at: when your app sent the SMS, if you know (a busy key's polls are
        planned from it; default: from when the wait began). A naive datetime is taken
        as UTC, as received_after is: pass datetime.now(timezone.utc), not datetime.now()."""
        timeout_d = _delta(timeout, "timeout")
        request = pb.AwaitCodeRequest(number_id=number_id, code_pattern=code_pattern,
                                      sender_pattern=sender_pattern,
                                      min_code_length=min_code_length,
                                      max_code_length=max_code_length, follow=follow)
        if timeout_d is not None and timeout_d > timedelta(0):
            request.timeout.FromTimedelta(timeout_d)
        for field, value in (("received_after", received_after), ("sms_sent_at", sms_sent_at)):
            if value is not None:
                if value.tzinfo is None:  # naive: taken as UTC
                    value = value.replace(tzinfo=timezone.utc)
                getattr(request, field).FromDatetime(value.astimezone(timezone.utc)
                                                     .replace(tzinfo=None))
        deadline = (timeout_d if timeout_d else _DEFAULT_AWAIT) + _STREAM_MARGIN
        call = self._stub.AwaitCode(request, timeout=deadline.total_seconds(),
                                    metadata=self._metadata)
        return CodeStream(call, self.address)

    def await_code(self, number_id: str, *,
                   on_heartbeat: Optional[Callable[[Heartbeat], None]] = None,
                   **options: Any) -> Code:
        """The first code; blocks until it comes or raises the typed error (timeout,
        expiry, ...). Options as for stream()."""
        with self.stream(number_id, **options) as stream:
            for event in stream:
                if isinstance(event, Heartbeat):
                    if on_heartbeat:
                        on_heartbeat(event)
                else:
                    return event  # the gateway ends the stream after the first code
        raise errors.HarnessError("the stream ended without a code",
                                  last_heartbeat=stream.last_heartbeat)

    def await_codes(self, number_id: str, *,
                    on_heartbeat: Optional[Callable[[Heartbeat], None]] = None,
                    on_code: Optional[Callable[[Code], None]] = None,
                    **options: Any) -> List[Code]:
        """Every code until the timeout (follow), in arrival order."""
        codes: List[Code] = []
        with self.stream(number_id, follow=True, **options) as stream:
            for event in stream:
                if isinstance(event, Heartbeat):
                    if on_heartbeat:
                        on_heartbeat(event)
                else:
                    codes.append(event)
                    if on_code:
                        on_code(event)
        return codes
