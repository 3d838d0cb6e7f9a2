"""Typed errors: one exception class per reason of the README's error table, plus the
client's own (GatewayUnavailable, Cancelled, DeadlineExceeded). Every one is a
HarnessError carrying the gRPC code, the message, the retry delay, the bad fields, the
ErrorInfo metadata and the last heartbeat of a wait."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Dict, List, Optional, Type

import grpc

try:  # googleapis-common-protos, when installed: google.rpc types are registered once
    from google.rpc import error_details_pb2, status_pb2
except ImportError:
    from ._gen import error_details_pb2, status_pb2
from google.protobuf.message import DecodeError
from .types import Heartbeat

ERROR_DOMAIN = "ismscode.harness"


@dataclass(frozen=True)
class BadField:
    field: str
    description: str


class HarnessError(Exception):
    """A failed call. `reason` is the ErrorInfo reason ("NO_NUMBERS_AVAILABLE")."""

    reason = "UNKNOWN"

    def __init__(self, message: str, *, code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
                 reason: Optional[str] = None, retry_delay: Optional[timedelta] = None,
                 bad_fields: Optional[List[BadField]] = None,
                 metadata: Optional[Dict[str, str]] = None,
                 last_heartbeat: Optional[Heartbeat] = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.message = message
        self.code = code
        self.retry_delay = retry_delay
        self.bad_fields = bad_fields or []
        self.metadata = metadata or {}
        self.last_heartbeat = last_heartbeat
        # acquire(): the request id it sent (generated when none was given). After
        # UpstreamTimeout, repeat with it: nothing is bought twice.
        self.request_id: Optional[str] = None

    def __str__(self) -> str:
        text = f"{self.reason} ({self.code.name}): {self.message}"
        for k, v in sorted(self.metadata.items()):
            text += f" [{k}={v}]"
        for f in self.bad_fields:
            text += f" [field {f.field}: {f.description}]"
        if self.retry_delay is not None:
            text += f" [retry after {self.retry_delay.total_seconds():g} s]"
        if self.last_heartbeat is not None:
            h = self.last_heartbeat
            text += (f" [last heartbeat: {h.polls} polls, next poll {h.next_poll_at.isoformat()}"
                     f", expires {h.expires_at.isoformat()}")
            if h.last_upstream_error:
                text += f", last upstream error: {h.last_upstream_error}"
            if h.waiting_for_budget:
                text += ", waiting for the rate budget"
            text += "]"
        return text


def _error(name: str, doc: str) -> Type[HarnessError]:
    return type(name, (HarnessError,), {"reason": _REASON_OF[name], "__doc__": doc})


_REASON_OF = {
    "InvalidArgument": "INVALID_ARGUMENT", "InvalidCountry": "INVALID_COUNTRY",
    "InvalidService": "INVALID_SERVICE", "Unauthorized": "UNAUTHORIZED",
    "InsufficientBalance": "INSUFFICIENT_BALANCE", "NoNumbersAvailable": "NO_NUMBERS_AVAILABLE",
    "RateLimitExceeded": "RATE_LIMIT_EXCEEDED", "UpstreamUnavailable": "UPSTREAM_UNAVAILABLE",
    "UpstreamTimeout": "UPSTREAM_TIMEOUT", "UpstreamBadResponse": "UPSTREAM_BAD_RESPONSE",
    "NumberNotFound": "NUMBER_NOT_FOUND", "CodeWaitTimeout": "CODE_WAIT_TIMEOUT",
    "NumberExpired": "NUMBER_EXPIRED", "ShuttingDown": "SHUTTING_DOWN",
    "Unauthenticated": "UNAUTHENTICATED", "CallerKeyNotAllowed": "CALLER_KEY_NOT_ALLOWED",
    "StateUnavailable": "STATE_UNAVAILABLE",
    "GatewayUnavailable": "GATEWAY_UNAVAILABLE", "Cancelled": "CANCELLED",
    "DeadlineExceeded": "DEADLINE_EXCEEDED",
}

InvalidArgument = _error("InvalidArgument", "A request field is invalid (see bad_fields).")
InvalidCountry = _error("InvalidCountry", "The upstream does not know the country.")
InvalidService = _error("InvalidService", "The upstream does not know the service.")
Unauthorized = _error("Unauthorized", "The upstream refused the key.")
InsufficientBalance = _error("InsufficientBalance", "The account's balance is too low.")
NoNumbersAvailable = _error("NoNumbersAvailable", "Out of stock (metadata: country, service).")
RateLimitExceeded = _error("RateLimitExceeded", "The key's rate limit; see retry_delay.")
UpstreamUnavailable = _error("UpstreamUnavailable", "The upstream failed or cannot be reached.")
UpstreamTimeout = _error("UpstreamTimeout",
                         "A purchase's answer was lost: repeat with the same request_id.")
UpstreamBadResponse = _error("UpstreamBadResponse", "The upstream answered off its document.")
NumberNotFound = _error("NumberNotFound", "No such number id (or another key's).")
CodeWaitTimeout = _error("CodeWaitTimeout", "No code before the timeout.")
NumberExpired = _error("NumberExpired", "The number's reservation ended first.")
ShuttingDown = _error("ShuttingDown", "The gateway is shutting down.")
Unauthenticated = _error("Unauthenticated", "The gateway refused the caller token.")
CallerKeyNotAllowed = _error("CallerKeyNotAllowed", "The gateway takes no caller keys.")
StateUnavailable = _error("StateUnavailable",
                          "The gateway fleet's shared state is unreachable: nothing was bought.")
GatewayUnavailable = _error("GatewayUnavailable", "The gateway cannot be reached.")
Cancelled = _error("Cancelled", "The caller cancelled.")
DeadlineExceeded = _error("DeadlineExceeded", "The call's own deadline passed.")

_CLASS_OF_REASON = {cls.reason: cls for cls in HarnessError.__subclasses__()}


def error_class(reason: str) -> Type[HarnessError]:
    """The exception class for a reason; HarnessError for reasons this client predates."""
    return _CLASS_OF_REASON.get(reason, HarnessError)


def from_rpc_error(err: grpc.RpcError, address: str,
                   last_heartbeat: Optional[Heartbeat] = None) -> HarnessError:
    """The typed error of a failed call, from its google.rpc.Status trailer."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    reason = None
    retry_delay = None
    bad_fields: List[BadField] = []
    metadata: Dict[str, str] = {}
    for key, value in (err.trailing_metadata() or ()) if hasattr(err, "trailing_metadata") else ():
        if key != "grpc-status-details-bin":
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            break  # unreadable details: the status code decides, as without them
        for any_ in status.details:
            info = error_details_pb2.ErrorInfo()
            retry = error_details_pb2.RetryInfo()
            bad = error_details_pb2.BadRequest()
            if any_.Is(info.DESCRIPTOR) and any_.Unpack(info) and info.domain == ERROR_DOMAIN:
                reason = info.reason
                metadata.update(info.metadata)
            elif any_.Is(retry.DESCRIPTOR) and any_.Unpack(retry):
                retry_delay = retry.retry_delay.ToTimedelta()
            elif any_.Is(bad.DESCRIPTOR) and any_.Unpack(bad):
                bad_fields += [BadField(v.field, v.description) for v in bad.field_violations]
    if reason is None:
        if code == grpc.StatusCode.UNAVAILABLE:
            reason = "GATEWAY_UNAVAILABLE"
            message = (f"cannot reach the gateway at {address} ({message}): start it "
                       "(scripts/run) or set ISMSCODE_HARNESS_ADDR")
        elif code == grpc.StatusCode.CANCELLED:
            reason = "CANCELLED"
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            reason = "DEADLINE_EXCEEDED"
        else:
            reason = "UNKNOWN"
    return error_class(reason)(message, code=code, reason=reason, retry_delay=retry_delay,
                               bad_fields=bad_fields, metadata=metadata,
                               last_heartbeat=last_heartbeat)
