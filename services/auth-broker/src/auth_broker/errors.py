"""auth-broker errors; each carries its HTTP status (rendered by the common handler)."""

from __future__ import annotations

from tts_common.errors import AppError, BadRequest, Conflict

from auth_broker.states import MESSAGES, StateProblem


class BadState(BadRequest):
    """The callback's `state` is missing, unknown, expired or already used."""

    def __init__(self, problem: StateProblem) -> None:
        super().__init__(MESSAGES[problem], code=f"state_{problem.value}")
        self.problem = problem


class AuthorizationFailed(AppError):
    """TikTok refused the code (or failed); the connection keeps its status with the reason."""

    status_code = 502
    code = "tiktok_authorization_failed"


class NotLeasable(Conflict):
    """The connection holds no usable tokens (pending, expired or revoked)."""

    def __init__(self, status: str, reason: str | None) -> None:
        detail = f"connection is {status}" + (f": {reason}" if reason else "")
        super().__init__(detail, code=f"connection_{status}")
        self.status = status
        self.reason = reason


class RevokedDuringAuthorization(Conflict):
    """The connection was revoked while TikTok answered the callback: the grant is dropped."""

    def __init__(self) -> None:
        super().__init__(
            "the connection was revoked while TikTok Shop authorized it; "
            "ask for a new link (reauthorize) to connect it again",
            code="connection_revoked",
        )
