"""Identity errors.

IdentityError
├── InvalidCredentials   wrong e-mail/password, unknown/expired token, disabled user
├── NotFound             the thing does not exist, or the caller may not see it
├── Forbidden            the caller sees it but may not change it (e.g. member vs admin)
├── AlreadyExists        a unique name/e-mail is taken
└── InvalidInput         a value breaks a rule the wire model cannot express
"""

from __future__ import annotations


class IdentityError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidCredentials(IdentityError):
    pass


class NotFound(IdentityError):
    pass


class Forbidden(IdentityError):
    pass


class AlreadyExists(IdentityError):
    pass


class InvalidInput(IdentityError):
    pass
