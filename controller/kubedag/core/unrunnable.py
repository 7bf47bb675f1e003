"""Which waiting pods will never start: the kubelet keeps such a container waiting forever
(`CreateContainerConfigError` because the image would run as root under runAsNonRoot, an
image name it cannot parse, an image it may not pull), so the try fails at once with a
message saying how to fix it, rather than holding its slot until executionTimeout."""

from dataclasses import dataclass

_AS_ROOT = (
    "set containerSecurityContext.runAsUser (or securityContext.runAsUser) to a non-zero UID,"
    " or build the image with a numeric non-root USER"
)


@dataclass(frozen=True)
class Unrunnable:
    reason: str
    """The kubelet's waiting reason."""
    message_contains: str
    """A part of its message (lowercase) that makes it permanent; "" for any message."""
    fix: str


RULES = (
    Unrunnable("CreateContainerConfigError", "image will run as root", _AS_ROOT),
    Unrunnable("CreateContainerConfigError", "non-numeric user", _AS_ROOT),
    Unrunnable("CreateContainerConfigError", "runasnonroot", _AS_ROOT),
    Unrunnable(
        "CreateContainerConfigError",
        "breaks non-root policy",
        "runAsUser 0 contradicts runAsNonRoot: set a non-zero runAsUser, or set runAsNonRoot"
        " false as well (which the `restricted` Pod Security Standard refuses)",
    ),
    Unrunnable("InvalidImageName", "", "fix the task's image reference"),
    Unrunnable(
        "ErrImageNeverPull",
        "",
        "the image is not on the node and imagePullPolicy is Never: load it there or allow"
        " pulling it",
    ),
)


def unrunnable(waiting_reason: str | None, message: str | None) -> str | None:
    """The try's failure message for a container waiting for `waiting_reason` (with the
    kubelet's `message`), or None while it may still start (an image being pulled, a Secret
    not created yet)."""
    if not waiting_reason:
        return None
    text = (message or "").lower()
    for rule in RULES:
        if rule.reason == waiting_reason and rule.message_contains in text:
            said = f"{waiting_reason}: {message}" if message else waiting_reason
            return f"the pod cannot start ({said}); {rule.fix}"
    return None
