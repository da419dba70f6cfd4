"""Errors of the web console.

WebError
├── LoginRequired     no valid session: redirect to the login page
└── CsrfRejected      a state-changing request without this session's CSRF token, or from
                      another site (Origin)
"""

from __future__ import annotations


class WebError(Exception):
    pass


class LoginRequired(WebError):
    pass


class CsrfRejected(WebError):
    pass
