"""How `kubedag web` is set up (its flags)."""

from dataclasses import dataclass

LOG_LIMIT_BYTES = 2 * 1024 * 1024
LOG_TAIL_LINES = 20000


@dataclass(frozen=True)
class WebSettings:
    namespaces: tuple[str, ...] = ()
    """The namespaces it shows; empty: all."""
    actions: bool = False
    """Offer trigger, clear, mark, pause and backfill (made with the caller's identity)."""
    proxy_user_header: str | None = None
    """Trust this header's user (set by an authenticating proxy in front) instead of a
    sign-in; each action is checked with a SubjectAccessReview of that user."""
    proxy_groups_header: str | None = None
    secure_cookies: bool = False
    """Mark cookies Secure even when the request does not look like HTTPS."""

    def shows(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces
