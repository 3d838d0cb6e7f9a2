"""ismscode-harness: phone numbers and the SMS codes texted to them, for signup tests,
through the ismscode-harness gateway.

    from ismscode_harness import Client
    with Client() as client:                       # ISMSCODE_HARNESS_ADDR, ...
        number = client.acquire("US", "whatsapp")
        code = client.await_code(number.id, timeout=120)
"""
from . import errors
from .client import Client, CodeStream, new_request_id
from .errors import HarnessError
from .types import Code, Country, Heartbeat, Number, Sms

__all__ = ["Client", "CodeStream", "Code", "Country", "HarnessError", "Heartbeat", "Number",
           "Sms", "errors", "new_request_id"]
