"""Password authentication behind the login throttle: one function for every login door (the
API at the console, the console's login form, a replica DC's API), so none of them can skip
the throttle, key it differently or trust a forwarded address the others do not."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from hemisphere.db.models import User
from hemisphere.identity import service as ids
from hemisphere.identity.errors import InvalidCredentials
from hemisphere.identity.throttle import LoginThrottle
from hemisphere.webapi.clients import client_address


class LoginThrottled(Exception):
    """Too many failed logins for this client or account; retry after `seconds`."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed logins; try again in {seconds} seconds")
        self.seconds = seconds


async def authenticate_throttled(
    request: Request, s: AsyncSession, email: str, password: str
) -> User:
    """The user with these credentials; raises LoginThrottled or InvalidCredentials."""
    throttle: LoginThrottle = request.app.state.login_throttle
    keys = (email, client_address(request))
    wait = throttle.retry_after(*keys)
    if wait > 0:
        raise LoginThrottled(int(wait) + 1)
    try:
        user = await ids.authenticate(s, email, password)
    except InvalidCredentials:
        throttle.failed(*keys)
        raise
    throttle.succeeded(*keys)
    return user
