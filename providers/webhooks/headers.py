"""Case-insensitive request headers and the header names each provider uses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping; the first value of a repeated header wins.

    Keys are stored lower-cased; iteration yields lower-cased names.
    """

    __slots__ = ("_items",)

    def __init__(self, headers: HeaderInput = ()) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        items: dict[str, str] = {}
        for name, value in pairs:
            items.setdefault(name.lower(), value)
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def value(self, name: str) -> str | None:
        """The stripped value, or None when the header is absent or blank (blank = not sent:
        Gitea sends an empty X-Gitea-Signature when the hook has no secret)."""
        raw = self._items.get(name.lower())
        if raw is None:
            return None
        stripped = raw.strip()
        return stripped or None

    def first(self, *names: str) -> str | None:
        """The value of the first of `names` that is present and not blank."""
        for name in names:
            found = self.value(name)
            if found is not None:
                return found
        return None

    def __repr__(self) -> str:
        # Header values may carry secrets (tokens, basic credentials): names only.
        return f"Headers({sorted(self._items)})"


# GitHub: https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers
GITHUB_SIGNATURE = "X-Hub-Signature-256"
GITHUB_SIGNATURE_SHA1 = "X-Hub-Signature"
GITHUB_DELIVERY = "X-GitHub-Delivery"
GITHUB_EVENT = "X-GitHub-Event"

# GitLab: https://docs.gitlab.com/user/project/integrations/webhooks/#delivery-headers
GITLAB_TOKEN = "X-Gitlab-Token"
GITLAB_EVENT = "X-Gitlab-Event"
GITLAB_IDEMPOTENCY_KEY = "Idempotency-Key"
GITLAB_EVENT_UUID = "X-Gitlab-Event-UUID"
GITLAB_WEBHOOK_UUID = "X-Gitlab-Webhook-UUID"
GITLAB_INSTANCE = "X-Gitlab-Instance"
# Standard Webhooks, sent by GitLab with a signing token: https://www.standardwebhooks.com
STANDARD_WEBHOOK_ID = "webhook-id"
STANDARD_WEBHOOK_TIMESTAMP = "webhook-timestamp"
STANDARD_WEBHOOK_SIGNATURE = "webhook-signature"

# Gitea: services/webhook/deliver.go (go-gitea/gitea)
GITEA_SIGNATURE = "X-Gitea-Signature"
GITEA_DELIVERY = "X-Gitea-Delivery"
GITEA_EVENT = "X-Gitea-Event"
GITEA_EVENT_TYPE = "X-Gitea-Event-Type"

# Bitbucket Cloud: https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/
BITBUCKET_SIGNATURE = "X-Hub-Signature"
BITBUCKET_EVENT = "X-Event-Key"
BITBUCKET_REQUEST_UUID = "X-Request-UUID"
BITBUCKET_HOOK_UUID = "X-Hook-UUID"
BITBUCKET_ATTEMPT = "X-Attempt-Number"

# Jira Cloud: https://developer.atlassian.com/cloud/jira/platform/webhooks/
JIRA_SIGNATURE = "X-Hub-Signature"
JIRA_IDENTIFIER = "X-Atlassian-Webhook-Identifier"
JIRA_RETRY = "X-Atlassian-Webhook-Retry"

# Linear: https://linear.app/developers/webhooks
LINEAR_SIGNATURE = "Linear-Signature"
LINEAR_DELIVERY = "Linear-Delivery"
LINEAR_EVENT = "Linear-Event"
LINEAR_TIMESTAMP_FIELD = "webhookTimestamp"

# Buildkite: https://buildkite.com/docs/apis/webhooks/pipelines#http-headers
BUILDKITE_SIGNATURE = "X-Buildkite-Signature"
BUILDKITE_TOKEN = "X-Buildkite-Token"
BUILDKITE_EVENT = "X-Buildkite-Event"

# CircleCI: https://circleci.com/docs/webhooks/#outbound-webhook-headers
CIRCLECI_SIGNATURE = "circleci-signature"
CIRCLECI_EVENT = "circleci-event-type"

# Azure DevOps service hooks and Jenkins (Generic Webhook Trigger plugin).
AUTHORIZATION = "Authorization"
JENKINS_TOKEN_HEADER = "token"
JENKINS_TOKEN_QUERY = "token"
