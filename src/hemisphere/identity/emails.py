"""The one spelling of an e-mail address that identity stores, looks up and throttles by.

Authentication and the login throttle must agree on what "the same account" is, or an attacker
gets a fresh throttle budget per spelling (`Victim@Example.com`, ` victim@example.com`, the
full-width `\uff56ictim@example.com`). Every place that turns user input into an account key calls
`normalize_email`.
"""

from __future__ import annotations

import unicodedata


def normalize_email(email: str) -> str:
    """NFKC (full-width and compatibility forms fold to their plain letters), surrounding
    whitespace removed (NFKC turns no-break spaces into spaces first), lower-case."""
    return unicodedata.normalize("NFKC", email).strip().lower()
