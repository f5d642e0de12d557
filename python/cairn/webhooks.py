"""Verifying the signature of Cairn's alert webhooks (X-Cairn-Signature).

Each delivery carries ``X-Cairn-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
the HMAC-SHA256, under the sink's secret, of ``"<t>." + <raw body bytes>``. Verify it on
the raw body (before parsing the JSON) and refuse timestamps outside a tolerance, so that
a captured delivery cannot be replayed later::

    from cairn.webhooks import verify_signature, SignatureError

    try:
        verify_signature(request.headers["X-Cairn-Signature"], SECRET, request.body)
    except SignatureError as e:
        return 401, str(e)

The same check as the server's C++ verifier (src/common/webhook_signature.h).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Cairn-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature is missing, malformed, does not match, or is too old or new."""


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The header value Cairn sends for ``body`` at ``timestamp`` (unix seconds)."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(header: str | None, secret: str | bytes, body: bytes,
                     tolerance: int = DEFAULT_TOLERANCE_SECONDS,
                     now: float | None = None) -> int:
    """Checks ``header`` (the X-Cairn-Signature value) against the raw ``body``.

    Returns the signed timestamp; raises SignatureError when the header is missing or
    malformed, when no ``v1`` matches, or when ``t`` is more than ``tolerance`` seconds
    from ``now`` (default: the current time).
    """
    if not header:
        raise SignatureError(f"no {HEADER} header")
    timestamp = None
    candidates = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"{HEADER}: t={value} is not a number of seconds") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        missing = "t=" if timestamp is None else "v1="
        raise SignatureError(f"{HEADER} must be t=<unix seconds>,v1=<hex>; {missing} is "
                             f"missing in {header!r}")
    expected = sign(secret, body, timestamp).split(",v1=", 1)[1]
    # compare_digest takes ASCII str only: compare bytes, so a non-ASCII v1 is a mismatch,
    # not a TypeError.
    if not any(hmac.compare_digest(expected.encode(), c.encode("utf-8", "replace"))
               for c in candidates):
        raise SignatureError(f"{HEADER}: no v1 signature matches the body under this secret")
    skew = int(time.time() if now is None else now) - timestamp
    if abs(skew) > tolerance:
        raise SignatureError(f"{HEADER}: t={timestamp} is {abs(skew)} s "
                             f"{'old' if skew > 0 else 'in the future'}, beyond the tolerance "
                             f"of {tolerance} s")
    return timestamp
