"""Errors of the dc role's browser-facing parts (terminal sessions, preview hand-off).

DcError
├── InvalidPreviewToken      a preview grant or cookie is forged, expired, reused or for
│                            another workspace
└── TerminalSessionError     a terminal session cannot be attached
    ├── TerminalSessionGone      unknown id, expired grace period, or another user's session
    ├── TerminalShellExited      the shell of the session has ended
    └── TooManyTerminals         the user has the most sessions allowed, all of them in use
"""

from __future__ import annotations


class DcError(Exception):
    pass


class InvalidPreviewToken(DcError):
    pass


class TerminalSessionError(DcError):
    pass


class TerminalSessionGone(TerminalSessionError):
    pass


class TerminalShellExited(TerminalSessionError):
    pass


class TooManyTerminals(TerminalSessionError):
    pass
