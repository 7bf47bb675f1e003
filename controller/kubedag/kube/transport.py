"""Failures on the way to the API server that the same request may get past later."""

import aiohttp

from kubedag.kube.client import ApiError

TRANSPORT_ERRORS = (TimeoutError, aiohttp.ClientError, OSError)
"""The connection refused, lost or timed out: no answer from the API server at all."""


def passing(error: BaseException) -> bool:
    """The API server busy or failing (5xx, 429), or no answer from it."""
    if isinstance(error, ApiError):
        return error.passing
    return isinstance(error, TRANSPORT_ERRORS)
