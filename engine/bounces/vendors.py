"""What a few mail systems mean by their own words, beyond what status codes and replies say.

Some systems answer every failure with the same SMTP reply and put the real cause in a
fixed sentence of their notice, or reuse a reply for something other than its usual sense.
Each rule names the system by the host that wrote the notice (its ``From`` address or the
``Reporting-MTA`` of its report). Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Final

#: au (KDDI): ezweb.ne.jp and au.com notices state the cause in a fixed English sentence
#: under the Japanese text, whatever the SMTP reply quoted below it says.
_AU: Final = re.compile(r"(?:^|[@.])(?:ezweb\.ne\.jp|au\.com)\b", re.IGNORECASE)
_AU_CAUSES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"the user\(s\) account is disabled", re.IGNORECASE), "suspend"),
    (re.compile(r"the user\(s\) account is temporarily over quota", re.IGNORECASE), "mailboxfull"),
)

#: Amazon SES receiving answers "Mailbox does not exist" for every address that none of
#: the domain's receipt rules accepts: a rule decision, not proof that nobody reads it.
_SES_INBOUND: Final = re.compile(r"inbound-smtp\.[\w-]+\.amazonaws\.com", re.IGNORECASE)
_SES_NO_RULE: Final = re.compile(r"mailbox does not exist", re.IGNORECASE)


def vendor_reason(origin: str, report: str, diagnostic: str) -> str | None:
    """Return the reason a known system's notice gives, or None to keep the general one.

    ``origin`` is the notice's ``From`` and ``Reporting-MTA``; ``report`` its readable text;
    ``diagnostic`` the reply quoted for one recipient.
    """
    if _AU.search(origin):
        for pattern, reason in _AU_CAUSES:
            if pattern.search(report):
                return reason
    if _SES_INBOUND.search(origin) and _SES_NO_RULE.search(diagnostic):
        return "filtered"
    return None
