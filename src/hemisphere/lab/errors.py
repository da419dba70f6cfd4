"""The lab's exceptions, one tree:

LabError                    anything the lab cannot do; the message says what and how to fix
├── LabSpecError            the spec cannot be run as a lab (no central site, too few DCs)
├── LabNotFoundError        no lab of that name (no lab.json)
├── LabExistsError          `lab up` of a name that is already up
├── UnknownTargetError      a site, link or role that the lab does not have (lists the valid)
└── LabHostError            a host command (ip, nsenter, toxiproxy, pg_ctl) failed
"""

from __future__ import annotations

__all__ = [
    "LabError",
    "LabExistsError",
    "LabHostError",
    "LabNotFoundError",
    "LabSpecError",
    "UnknownTargetError",
]


class LabError(Exception):
    """Something the lab cannot do; the message names it and the fix."""


class LabSpecError(LabError):
    pass


class LabNotFoundError(LabError):
    pass


class LabExistsError(LabError):
    pass


class UnknownTargetError(LabError):
    pass


class LabHostError(LabError):
    pass
