"""Webhook request verification for every provider type, as pure functions of plain values.

The ingress builds a `WebhookRequest` (method, case-insensitive headers, raw body, query),
picks `verifier_for(provider_type)`, and calls `verify(request, secrets, now)`. The result says
whether the delivery is authentic, which secret matched, and, on failure, a reason whose
`http_status` separates 400 (missing or malformed proof) from 401 (wrong proof).

No web framework, Temporal or database imports here: see docs/webhooks-verification.md.
"""

from providers.webhooks.base import BaseVerifier, Verifier
from providers.webhooks.headers import Headers
from providers.webhooks.hints import body_hints, header_hints, jira_event
from providers.webhooks.request import WebhookRequest
from providers.webhooks.result import Algorithm, FailureReason, Hints, VerificationResult
from providers.webhooks.secrets import BasicCredentials, Secret, SecretSet
from providers.webhooks.signing import (
    basic_authorization,
    buildkite_token_headers,
    linear_body,
    sign_azure_devops,
    sign_bitbucket,
    sign_buildkite,
    sign_circleci,
    sign_gitea,
    sign_github,
    sign_gitlab,
    sign_jenkins,
    sign_jira,
    sign_linear,
)
from providers.webhooks.table import (
    VERIFIERS,
    UnknownProviderTypeError,
    signature_headers,
    signature_headers_present,
    verifier_for,
)

__all__ = [
    "VERIFIERS",
    "Algorithm",
    "BaseVerifier",
    "BasicCredentials",
    "FailureReason",
    "Headers",
    "Hints",
    "Secret",
    "SecretSet",
    "UnknownProviderTypeError",
    "VerificationResult",
    "Verifier",
    "WebhookRequest",
    "basic_authorization",
    "body_hints",
    "buildkite_token_headers",
    "header_hints",
    "jira_event",
    "linear_body",
    "sign_azure_devops",
    "sign_bitbucket",
    "sign_buildkite",
    "sign_circleci",
    "sign_gitea",
    "sign_github",
    "sign_gitlab",
    "sign_jenkins",
    "sign_jira",
    "sign_linear",
    "signature_headers",
    "signature_headers_present",
    "verifier_for",
]
