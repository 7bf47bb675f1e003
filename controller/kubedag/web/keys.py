"""What the web view's aiohttp application holds, by key."""

from aiohttp import web

from kubedag.kube.client import Kube
from kubedag.web.identity import Callers, KnownUsers
from kubedag.web.settings import WebSettings
from kubedag.web.store import Store

STORE = web.AppKey("store", Store)
KUBE = web.AppKey("kube", Kube)
"""The web view's own identity: its watches and pod log reads; behind a proxy, its actions."""
SETTINGS = web.AppKey("settings", WebSettings)
CALLERS = web.AppKey("callers", Callers)
"""Clients that make the callers' requests, with their tokens."""
KNOWN_USERS = web.AppKey("known_users", KnownUsers)
