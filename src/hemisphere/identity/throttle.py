"""Login throttling that stops guessing without letting an attacker lock a victim out.

Failures are counted under three keys, in a sliding window (`window_s`, default 5 minutes):

* **client** — every failure from one client address, whatever account it named. Over
  `client_budget` (10) the client is refused for every account. This is what an attacker
  meets first: it does not depend on how the e-mail is spelled (keys use `normalize_email`
  anyway) nor on the accounts tried.
* **account+client** — failures of one client on one account. Over `pair_budget` (5) that
  client may not try that account any more; other clients may.
* **account** — failures on one account from all clients together. Over `account_budget` (50,
  a distributed attack) the account is refused only to clients that have themselves failed on
  it in the window; a client with a clean record for the account (the victim at their own
  machine) still gets through. So a botnet gets one guess per address once the account is under
  attack, and nobody can lock the owner out by failing on purpose.

A success clears only its account+client key: logging into one's own account must not refill
the client budget between guesses at someone else's.

Client addresses are what `webapi/clients.py` resolves (X-Forwarded-For only from configured
proxies). In memory and per process, which is what one console needs; old failures are forgotten.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable

from hemisphere.identity.emails import normalize_email

_SWEEP_AT = 10_000  # keys kept before a sweep drops the expired ones


class LoginThrottle:
    def __init__(
        self,
        *,
        client_budget: int = 10,
        pair_budget: int = 5,
        account_budget: int = 50,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_budget = client_budget
        self.pair_budget = pair_budget
        self.account_budget = account_budget
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    @staticmethod
    def _keys(email: str, client: str) -> tuple[str, str, str]:
        account = normalize_email(email)
        return f"client:{client}", f"pair:{account}\x00{client}", f"account:{account}"

    def retry_after(self, email: str, client: str) -> float:
        """Seconds until `client` may try to log into `email` again; 0 when allowed now."""
        now = self._clock()
        client_key, pair_key, account_key = self._keys(email, client)
        pair = self._recent(pair_key, now)
        limits = [(client_key, self.client_budget), (pair_key, self.pair_budget)]
        if pair:  # only clients that failed on the account share its lock
            limits.append((account_key, self.account_budget))
        wait = 0.0
        for key, budget in limits:
            q = self._recent(key, now)
            if len(q) >= budget:
                wait = max(wait, q[len(q) - budget] + self.window_s - now)
        return wait

    def failed(self, email: str, client: str) -> None:
        now = self._clock()
        if len(self._failures) > _SWEEP_AT:
            for key in list(self._failures):
                if not self._recent(key, now):
                    del self._failures[key]
        for key in self._keys(email, client):
            self._failures[key].append(now)
            self._recent(key, now)

    def succeeded(self, email: str, client: str) -> None:
        self._failures.pop(self._keys(email, client)[1], None)

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q
