"""Paste Deploy app factories for the end-to-end tests with real peers
(tests/integration/test_peers_*.py)."""

import sample_apps


def make_router(global_conf, **local_conf):
    """``use = call:peer_apps:make_router``: sample_apps.router."""
    return sample_apps.router
