"""The GitHub adapter (REST API 2022-11-28): `GitHubProvider.connect(credentials, ...)`."""

from providers.github.auth import AppInstallationAuth, GitHubCredentials, StaticToken
from providers.github.client import API_VERSION, DEFAULT_BASE_URL, GitHubClient
from providers.github.errors import Classification, classify_response
from providers.github.mapping import SCHEMA_VERSION, MappingContext
from providers.github.provider import GitHubProvider

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "SCHEMA_VERSION",
    "AppInstallationAuth",
    "Classification",
    "GitHubClient",
    "GitHubCredentials",
    "GitHubProvider",
    "MappingContext",
    "StaticToken",
    "classify_response",
]
