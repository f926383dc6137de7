"""Standard Webhooks signatures, checked against an independent computation."""

from __future__ import annotations

import base64
import hashlib
import hmac

from engine.webhooks.signing import (
    receiver_secret,
    signature,
    signature_headers,
    verify,
    webhook_key,
)

KEY = b"k" * 48
BODY = '{"会社":"山田商事","score":72}'.encode()
NOW = 1_790_000_000


def test_the_signature_is_the_base64_hmac_of_id_timestamp_and_body():
    expected = hmac.new(KEY, b"msg_1." + str(NOW).encode() + b"." + BODY, hashlib.sha256)
    assert (
        signature(KEY, "msg_1", NOW, BODY) == "v1," + base64.b64encode(expected.digest()).decode()
    )


def test_a_receiver_verifies_with_its_whsec_secret():
    secret = receiver_secret(KEY)
    headers = signature_headers([webhook_key(KEY)], "msg_1", NOW, BODY)
    assert secret.startswith("whsec_")
    assert verify(secret, headers, BODY, now=NOW + 60)


def test_a_changed_body_an_old_timestamp_or_another_key_fail():
    secret = receiver_secret(KEY)
    headers = signature_headers([webhook_key(KEY)], "msg_1", NOW, BODY)
    assert not verify(secret, headers, BODY + b" ", now=NOW)
    assert not verify(secret, headers, BODY, now=NOW + 301)
    assert not verify(receiver_secret(b"o" * 48), headers, BODY, now=NOW)
    assert not verify(secret, {"webhook-id": "msg_1"}, BODY, now=NOW)


def test_every_key_signs_so_receivers_keep_verifying_through_a_rotation():
    old, new = b"o" * 48, b"n" * 48
    headers = signature_headers([webhook_key(new), webhook_key(old)], "msg_2", NOW, BODY)
    assert len(headers["webhook-signature"].split()) == 2
    assert verify(receiver_secret(old), headers, BODY, now=NOW)
    assert verify(receiver_secret(new), headers, BODY, now=NOW)


def test_the_installation_key_is_never_the_webhook_key():
    assert webhook_key(KEY) != KEY
    assert base64.b64decode(receiver_secret(KEY).removeprefix("whsec_")) == webhook_key(KEY)
