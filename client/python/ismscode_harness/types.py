"""The values the client returns."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime



@dataclass(frozen=True)
class Country:
    code: str
    name: str
    dial_prefix: str


@dataclass(frozen=True)
class Number:
    id: str
    phone: str
    country: str
    service: str
    expires_at: datetime
    attempts: int
    replayed: bool
    request_id: str


@dataclass(frozen=True)
class Sms:
    sender: str
    text: str
    received_at: datetime


@dataclass(frozen=True)
class Code:
    code: str
    raw_match: str
    sms: Sms


@dataclass(frozen=True)
class Heartbeat:
    polls: int
    next_poll_at: datetime
    expires_at: datetime
    last_upstream_error: str
    waiting_for_budget: bool


