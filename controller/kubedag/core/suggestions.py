"""'Did you mean' for refusals: the closest allowed name to a misspelt one."""

import difflib
from collections.abc import Iterable

# difflib's similarity ratio a suggestion needs: "one_sucess" and "one_success" score 0.95,
# "execution_dat" and "execution_date" 0.96; unrelated names stay below 0.6.
_CUTOFF = 0.75


def close_match(name: str, allowed: Iterable[str]) -> str | None:
    """The allowed name closest to `name`, if one is close enough (case aside)."""
    candidates = {candidate.lower(): candidate for candidate in allowed}
    matches = difflib.get_close_matches(name.lower(), candidates, n=1, cutoff=_CUTOFF)
    return candidates[matches[0]] if matches else None


def did_you_mean(name: str, allowed: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest allowed name, or '' when none is close."""
    match = close_match(name, allowed)
    return f" (did you mean {match!r}?)" if match is not None and match != name else ""
