"""Evidence that a mailbox is missing, as opposed to a filter using the same words."""

from __future__ import annotations

import pytest

from engine.bounces.absence import proves_absence, transcript_command

TRANSCRIPT = """... while talking to mx.example.jp.:
>>> RCPT To:<sasaki.jun@example.jp>
<<< 550 5.1.1 <sasaki.jun@example.jp>... User unknown
>>> DATA
<<< 550 5.7.1 <matsumoto.ai@example.jp>... User unknown
"""


@pytest.mark.parametrize(
    ("recipient", "command"),
    [("sasaki.jun@example.jp", "RCPT"), ("matsumoto.ai@example.jp", "DATA"), ("x@example.jp", "")],
)
def test_the_transcript_says_which_command_each_refusal_answered(
    recipient: str, command: str
) -> None:
    assert transcript_command(TRANSCRIPT, recipient, "") == command


@pytest.mark.parametrize(
    ("status", "diagnostic", "after_data", "proved"),
    [
        ("5.1.1", "550 5.1.1 User unknown", True, True),  # an addressing status outweighs DATA
        ("5.0.0", "550 User unknown", True, False),
        ("5.0.0", "550 <inoue.yuki@example.jp>: User unknown", False, True),
        ("5.0.0", "550 User unknown", False, False),
        ("5.1.351", "550 5.1.351 unknown recipient -> 550 : User unknown", False, False),
        ("", "Invalid final delivery userid: inoue.yuki@example.jp", False, True),
    ],
)
def test_what_proves_a_mailbox_missing(
    status: str, diagnostic: str, after_data: bool, proved: bool
) -> None:
    assert (
        proves_absence("inoue.yuki@example.jp", status, diagnostic, "", after_data=after_data)
        is proved
    )
