"""The one owner of an account's state: its stage, stage owner, status, blocked reason and post-onboarding owner.

Only this package writes those columns of ``onboarding.onboardings``, the
``stage_history`` table and the stage events (``stage.entered``,
``ownership.handed_off``, ``onboarding.live``, ``onboarding.blocked``).  Every
other module asks it to move an account:

- :mod:`.stages`: the stages of a tier's path and the moves allowed between them, as data;
- :mod:`.moves`: one account's moves, each in one transaction with its history and audit event;
- :mod:`.opening`: a chunk of new accounts entering their first stage (the intake);
- :mod:`.gate`: the readiness gate before setup.
"""

from __future__ import annotations

from include.onboarding.state.moves import advance, block_unstartable, go_live, hand_off, set_blocked
from include.onboarding.state.stages import SKIPPABLE, path, transitions

__all__ = ["SKIPPABLE", "advance", "block_unstartable", "go_live", "hand_off", "path", "set_blocked", "transitions"]
