"""cairn.webhooks: the receiver-side check of alert webhooks' X-Cairn-Signature
(t=<unix s>,v1=<HMAC-SHA256 hex of "<t>.<body>">), the same rules as the server's C++
VerifyWebhookSignature (src/common/webhook_signature_test.cc has the same cases). The
end-to-end check against a real server's deliveries is in test_monitoring_loop.py."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from cairn.webhooks import SignatureError, sign, verify_signature

BODY = b'{"event":"opened"}'


def test_signs_the_timestamp_dot_body():
    expected = hmac.new(b"whsec", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("whsec", BODY, 1700000000) == f"t=1700000000,v1={expected}"


def test_accepts_within_the_tolerance_and_returns_the_timestamp():
    header = sign("whsec", BODY, 1700000000)
    assert verify_signature(header, "whsec", BODY, now=1700000300) == 1700000000
    assert verify_signature(header, "whsec", BODY, now=1699999700) == 1700000000
    rotated = f"t=1700000000, v1={'0' * 64}, v1={header.split('v1=')[1]}"
    assert verify_signature(rotated, "whsec", BODY, now=1700000000) == 1700000000


def test_refuses_a_replay_outside_the_tolerance():
    header = sign("whsec", BODY, 1700000000)
    with pytest.raises(SignatureError, match="t=1700000000 is 301 s old"):
        verify_signature(header, "whsec", BODY, now=1700000301)
    with pytest.raises(SignatureError, match="1000 s in the future"):
        verify_signature(header, "whsec", BODY, tolerance=60, now=1699999000)


def test_refuses_another_body_secret_or_moved_timestamp():
    header = sign("whsec", BODY, 1700000000)
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify_signature(header, "whsec", BODY + b" ", now=1700000000)
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify_signature(header, "other", BODY, now=1700000000)
    moved = header.replace("t=1700000000", "t=1700000999")
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify_signature(moved, "whsec", BODY, now=1700000999)
    legacy = "sha256=" + hmac.new(b"whsec", BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError, match="t= is missing"):
        verify_signature(legacy, "whsec", BODY, now=1700000000)


def test_malformed_headers_say_what_is_missing():
    with pytest.raises(SignatureError, match="no X-Cairn-Signature header"):
        verify_signature(None, "k", b"")
    with pytest.raises(SignatureError, match="v1= is missing"):
        verify_signature("t=5", "k", b"", now=5)
    with pytest.raises(SignatureError, match="t=5x is not a number of seconds"):
        verify_signature("t=5x,v1=ab", "k", b"", now=5)
    # A non-ASCII signature is a mismatch, not a TypeError from hmac.compare_digest.
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify_signature("t=5,v1=é" + "0" * 63, "k", b"", now=5)
