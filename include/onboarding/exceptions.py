"""The errors this package raises, under one base.

Every message names the account (or the file and field), what went wrong and,
where a person can fix it, how.  Catch :class:`OnboardingError` to catch them all.
"""

from __future__ import annotations


class OnboardingError(Exception):
    """Base of every error raised by the onboarding package."""


class TransitionNotAllowed(OnboardingError, ValueError):
    """An account was asked to move between two stages its tier's path does not connect."""

    def __init__(self, onboarding_key: str, from_stage: str, to_stage: str, allowed: list[str]) -> None:
        self.onboarding_key = onboarding_key
        self.from_stage = from_stage
        self.to_stage = to_stage
        super().__init__(
            f"onboarding {onboarding_key}: cannot move from stage {from_stage!r} to {to_stage!r};"
            f" from {from_stage!r} it may move to {', '.join(map(repr, allowed)) or 'nowhere (it is live)'}"
        )


# --------------------------------------------------------------------------- configuration and the store


class ConfigError(OnboardingError, ValueError):
    """A configuration file is invalid.  The message names the file and the field."""


class MigrationError(OnboardingError, RuntimeError):
    """The database's applied migrations disagree with the files shipped here."""


# --------------------------------------------------------------------------- accounts and their owners


class OnboardingNotFound(OnboardingError, LookupError):
    """The store has no onboarding with this key."""


class TierRemoved(OnboardingError, RuntimeError):
    """The account's tier has no configuration any more; a person must move it to another tier."""


class NoOwner(OnboardingError, LookupError):
    """Nobody can own this account at this stage.  The message says why."""


# --------------------------------------------------------------------------- approvals


class NotNeeded(OnboardingError):
    """The order does not call for this approval (its ``when`` condition does not hold)."""


class InputsOutstanding(OnboardingError):
    """Critical inputs are not all verified, so there is nothing to approve yet; the gate says what is missing."""


class AlreadyApproved(OnboardingError):
    """The approval was given before; the message says by whom and when."""


class UnknownApproval(OnboardingError, LookupError):
    """The tier configuration no longer has this approval; the message says which file to look at."""


class NotTheApprover(OnboardingError, PermissionError):
    """Someone other than the assigned approver answered; the message says who decides."""


# --------------------------------------------------------------------------- setup and go-live


class StepNotReady(OnboardingError, RuntimeError):
    """A step ran before the steps it depends on finished."""


class ProvisioningFailed(OnboardingError, RuntimeError):
    """The tenant's provisioning reported failure; the message carries the provider's reason."""


class NotReadyToGoLive(OnboardingError, RuntimeError):
    """A go-live step ran before what it needs was done and logged; the message says what is missing."""


# --------------------------------------------------------------------------- external systems


class ApiError(OnboardingError):
    """An external API refused or failed a request.  The message is fit for a person."""

    def __init__(
        self,
        system: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        maybe_committed: bool = False,
    ):
        super().__init__(message)
        self.system = system
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.maybe_committed = maybe_committed
        """The request reached the vendor and its answer was lost: it may have taken effect."""


class DeliveryFailed(OnboardingError, RuntimeError):
    """Slack did not take the message.  ``connection_down``: the webhook is unusable for now, not just this message."""

    def __init__(self, message: str, connection_down: bool):
        super().__init__(message)
        self.connection_down = connection_down


class NotConfigured(OnboardingError, LookupError):
    """The ``airflow_api`` connection is missing or incomplete; the message says what to set."""


class AirflowRestError(OnboardingError, RuntimeError):
    """Airflow's API refused or failed a call; the message carries Airflow's own words."""


# --------------------------------------------------------------------------- customer inputs, the portal and the board


class Refused(OnboardingError):
    """Internal: stop judging and reject with this customer-facing reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PortalNotConfigured(OnboardingError, RuntimeError):
    """The portal has no signing secret (or one too short to be safe)."""


class BadLink(OnboardingError):
    """A token that opens nothing.  ``why`` is ``forged``, ``expired``, ``revoked`` or ``unknown``.

    ``onboarding_key`` is set only for an authentic link (expired or revoked), so the page
    can name the account's owner to ask for a new one; a forged token names nobody.
    """

    def __init__(self, why: str, onboarding_key: str | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.onboarding_key = onboarding_key


class BadFilter(OnboardingError, ValueError):
    """A query-string value the board cannot use; the message names it and says what is accepted."""


class SetupStepFailed(OnboardingError):
    """A setup step of an account failed; the task retries it.  The message is the step's own error."""

    def __init__(self, step_key: str, message: str) -> None:
        super().__init__(message)
        self.step_key = step_key
