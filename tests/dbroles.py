"""The test suite's database roles: built and migrated by the owner, run as the app role."""

import os

import dj_database_url
from django.db import connection

from p2p.dbroles import role_urls

ROLE_KEYS = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


def role_settings(role: str) -> dict:
    """Connection settings of `role` ("app" or "owner") for the current test database."""
    parsed = dj_database_url.parse(role_urls(os.environ)[role])
    return {**connection.settings_dict, **{key: parsed.get(key, {}) for key in ROLE_KEYS}}
