"""Every error the upgrade engine raises.

UpgradeError                  (base: the message says what, where, and what to do)
├── VersionError              (a version string that is not MAJOR.MINOR.PATCH)
├── SkewPolicyError           (the plan would break "console N, DCs N or N-1")
├── UpgradePathError          (a site is older than the bundle's minimum, or newer than it)
├── DeployError               (the deploy step for a site failed)
├── HealthGateError           (a site did not become ready at the new version in time)
├── RolloutHalted             (apply/rollback stopped at a site; names what was done)
├── UpgradeStateError         (the state file is unreadable, or a needed bundle is gone)
└── NothingToRollBack         (no applied upgrade in the history to undo)
"""

from __future__ import annotations


class UpgradeError(Exception):
    """Base of every upgrade error; `str(error)` is shown to the operator."""


class VersionError(UpgradeError):
    pass


class SkewPolicyError(UpgradeError):
    pass


class UpgradePathError(UpgradeError):
    pass


class DeployError(UpgradeError):
    pass


class HealthGateError(UpgradeError):
    pass


class RolloutHalted(UpgradeError):
    pass


class UpgradeStateError(UpgradeError):
    pass


class NothingToRollBack(UpgradeError):
    pass
