"""Webhook verification for every provider type (providers/webhooks).

Each provider is checked against itself (sign, then verify) and, where the provider publishes
one, against a published example, so a bug shared by signer and verifier still shows.
"""

from __future__ import annotations

import base64
import hmac
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from providers.webhooks import (
    VERIFIERS,
    Algorithm,
    BasicCredentials,
    FailureReason,
    Headers,
    Secret,
    SecretSet,
    UnknownProviderTypeError,
    VerificationResult,
    Verifier,
    WebhookRequest,
    body_hints,
    buildkite_token_headers,
    jira_event,
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
    signature_headers,
    signature_headers_present,
    verifier_for,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECRET = "s3cr3t-current"
OTHER = "s3cr3t-other"
OLD = "s3cr3t-previous"
PAYLOAD = {"action": "opened", "number": 7}


def whsec(raw: str) -> str:
    return "whsec_" + base64.b64encode(raw.encode()).decode()


# --------------------------------------------------------------------------------------------
# One case per way a provider proves a delivery
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    provider: str
    sign: Callable[[bytes, Secret, datetime], dict[str, str]]
    """Headers for `body` signed with `secret` at `now`."""
    secret: Callable[[str], Secret] = lambda raw: raw
    body: Callable[[datetime], bytes] = lambda now: json.dumps(PAYLOAD).encode()
    covers_body: bool = True
    """False for schemes that send the secret itself (tokens, basic auth)."""
    query: Callable[[Secret], dict[str, str]] = lambda secret: {}

    def request(
        self,
        key: str,
        now: datetime,
        *,
        body: bytes | None = None,
        drop: frozenset[str] = frozenset(),
    ) -> WebhookRequest:
        secret = self.secret(key)
        signed_body = self.body(now)
        headers = {
            k: v for k, v in self.sign(signed_body, secret, now).items() if k.lower() not in drop
        }
        query = {} if drop else self.query(secret)
        return WebhookRequest.of(headers, signed_body if body is None else body, query=query)

    def secrets(self, current: str, **kwargs: object) -> SecretSet:
        previous = kwargs.pop("previous", None)
        return SecretSet(
            self.secret(current),
            None if previous is None else self.secret(str(previous)),
            **kwargs,  # type: ignore[arg-type]
        )


def _jira_body(now: datetime) -> bytes:
    return json.dumps({"webhookEvent": "jira:issue_updated", "timestamp": 1}).encode()


def _linear(now: datetime) -> bytes:
    return linear_body({"action": "create", "type": "Issue", "data": {"id": "x"}}, now)


def _azure_body(now: datetime) -> bytes:
    return json.dumps({"id": "evt-1", "eventType": "git.push", "publisherId": "tfs"}).encode()


def _basic(raw: str) -> Secret:
    return BasicCredentials("krate", raw)


def _basic_headers(body: bytes, secret: Secret, now: datetime) -> dict[str, str]:
    assert isinstance(secret, BasicCredentials)
    return sign_azure_devops(secret.username, secret.password)


CASES = [
    Case("github", "github", lambda b, s, n: sign_github(b, str(s), event="pull_request")),
    Case("gitlab-token", "gitlab", lambda b, s, n: sign_gitlab(b, str(s)), covers_body=False),
    Case(
        "gitlab-signing-token",
        "gitlab",
        lambda b, s, n: sign_gitlab(b, signing_token=str(s), now=n),
        secret=whsec,
    ),
    Case("gitea", "gitea", lambda b, s, n: sign_gitea(b, str(s))),
    Case(
        "bitbucket",
        "bitbucket",
        lambda b, s, n: sign_bitbucket(b, str(s), event_key="pullrequest:created"),
    ),
    Case("jira", "jira", lambda b, s, n: sign_jira(b, str(s)), body=_jira_body),
    Case("linear", "linear", lambda b, s, n: sign_linear(b, str(s)), body=_linear),
    Case("buildkite-signature", "buildkite", lambda b, s, n: sign_buildkite(b, str(s), n)),
    Case(
        "buildkite-token",
        "buildkite",
        lambda b, s, n: buildkite_token_headers(str(s)),
        covers_body=False,
    ),
    Case("circleci", "circleci", lambda b, s, n: sign_circleci(b, str(s))),
    Case(
        "azure-devops",
        "azure-devops",
        _basic_headers,
        secret=_basic,
        body=_azure_body,
        covers_body=False,
    ),
    Case("jenkins-bearer", "jenkins", lambda b, s, n: sign_jenkins(str(s)), covers_body=False),
    Case("jenkins-header", "jenkins", lambda b, s, n: {"token": str(s)}, covers_body=False),
    Case(
        "jenkins-query",
        "jenkins",
        lambda b, s, n: {"Content-Type": "application/json"},
        covers_body=False,
        query=lambda s: {"token": str(s)},
    ),
]
BY_ID = {case.id: case for case in CASES}
case_param = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


def verify(
    case: Case, request: WebhookRequest, secrets: SecretSet, now: datetime = NOW
) -> VerificationResult:
    return verifier_for(case.provider).verify(request, secrets, now)


# --------------------------------------------------------------------------------------------
# Every provider: good, wrong secret, tampered body, missing proof, malformed proof
# --------------------------------------------------------------------------------------------


@case_param
def test_correctly_signed_request_verifies(case: Case) -> None:
    result = verify(case, case.request(SECRET, NOW), case.secrets(SECRET))
    assert result.verified, result.message
    assert result.failure is None
    assert result.http_status == 200
    assert result.matched_secret == "current"
    assert result.provider_type == case.provider


@case_param
def test_header_names_are_case_insensitive(case: Case) -> None:
    request = case.request(SECRET, NOW)
    lowered = WebhookRequest.of(
        {k.lower(): v for k, v in request.headers.items()}, request.body, query=request.query
    )
    upper = WebhookRequest.of(
        {k.upper(): v for k, v in request.headers.items()}, request.body, query=request.query
    )
    assert verify(case, lowered, case.secrets(SECRET)).verified
    assert verify(case, upper, case.secrets(SECRET)).verified


@case_param
def test_wrong_secret_is_a_mismatch(case: Case) -> None:
    result = verify(case, case.request(OTHER, NOW), case.secrets(SECRET))
    assert not result.verified
    assert result.failure is FailureReason.SIGNATURE_MISMATCH
    assert result.http_status == 401
    assert result.matched_secret is None


@case_param
def test_tampered_body(case: Case) -> None:
    request = case.request(SECRET, NOW)
    tampered = request.body.replace(b"}", b', "injected": true}', 1)
    assert tampered != request.body
    result = verify(case, case.request(SECRET, NOW, body=tampered), case.secrets(SECRET))
    if case.covers_body:
        assert result.failure is FailureReason.SIGNATURE_MISMATCH
        assert result.http_status == 401
    else:
        # Tokens and basic credentials do not cover the body: only TLS protects it.
        assert result.verified


@case_param
def test_missing_proof_is_reported_as_missing(case: Case) -> None:
    verifier = verifier_for(case.provider)
    drop = frozenset(name.lower() for name in verifier.signature_headers)
    request = case.request(SECRET, NOW, drop=drop)
    assert not signature_headers_present(case.provider, request.headers, request.query)
    result = verify(case, request, case.secrets(SECRET))
    assert result.failure is FailureReason.MISSING_HEADER
    assert result.http_status == 400
    assert result.message


@case_param
def test_proof_present_is_detected(case: Case) -> None:
    request = case.request(SECRET, NOW)
    assert signature_headers_present(case.provider, request.headers, request.query)


GARBAGE = [
    "",
    "   ",
    "garbage",
    "sha256=",
    "sha256=xyz",
    "sha256=" + "0" * 63,
    "sha1=" + "0" * 40,
    "v1=",
    "v1,",
    "v1,!!!",
    "timestamp=,signature=",
    "timestamp=abc,signature=def",
    "timestamp=99999999999999999999999,signature=" + "0" * 64,
    "timestamp=-5,signature=" + "0" * 64,
    "timestamp=\u00b2,signature=" + "0" * 64,
    "=,=,=",
    "Basic",
    "Basic !!!",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Bearer",
    "Bearer   ",
    "Negotiate abc",
    "\u2603\u00e9\x00",
    "a" * 20000,
]


@case_param
@pytest.mark.parametrize("value", GARBAGE, ids=range(len(GARBAGE)))
def test_malformed_proof_fails_cleanly(case: Case, value: str) -> None:
    request = case.request(SECRET, NOW)
    headers = dict(request.headers)
    for name in verifier_for(case.provider).signature_headers:
        if name.lower() in headers:
            headers[name.lower()] = value
    query = dict.fromkeys(request.query, value)
    result = verify(
        case, WebhookRequest.of(headers, request.body, query=query), case.secrets(SECRET)
    )
    assert not result.verified
    assert result.failure in {
        FailureReason.MISSING_HEADER,
        FailureReason.MALFORMED_HEADER,
        FailureReason.SIGNATURE_MISMATCH,
    }
    assert result.http_status in {400, 401}


@pytest.mark.parametrize(
    ("provider", "header", "value"),
    [
        ("github", "X-Hub-Signature-256", "sha256=not-hex"),
        ("github", "X-Hub-Signature-256", "sha1=" + "ab" * 20),
        (
            "github",
            "X-Hub-Signature-256",
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ),
        ("gitea", "X-Gitea-Signature", "sha256=" + "ab" * 32),
        ("bitbucket", "X-Hub-Signature", "sha256=" + "ab" * 31),
        ("jira", "X-Hub-Signature", "md5=" + "ab" * 16),
        ("linear", "Linear-Signature", "zz" * 32),
        ("buildkite", "X-Buildkite-Signature", "signature=" + "ab" * 32),
        ("buildkite", "X-Buildkite-Signature", "timestamp=1700000000"),
        ("circleci", "circleci-signature", "v2=" + "ab" * 32),
        ("azure-devops", "Authorization", "Bearer abc"),
        ("jenkins", "Authorization", "Basic YTpi"),
        ("gitlab", "webhook-signature", "v2,abc"),
        ("gitlab", "webhook-timestamp", "\u00b2"),
    ],
)
def test_malformed_proof_is_reported_as_malformed(provider: str, header: str, value: str) -> None:
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(NOW.timestamp())),
        "webhook-signature": "v1,AAAA",
        header: value,
    }
    if provider != "gitlab":
        headers = {header: value}
    secret: Secret = BasicCredentials("u", "p") if provider == "azure-devops" else SECRET
    result = verifier_for(provider).verify(
        WebhookRequest.of(headers, b"{}"), SecretSet(secret), NOW
    )
    assert result.failure is FailureReason.MALFORMED_HEADER, result
    assert result.http_status == 400


# --------------------------------------------------------------------------------------------
# Secret rotation
# --------------------------------------------------------------------------------------------


@case_param
def test_previous_secret_accepted_inside_rotation_window(case: Case) -> None:
    secrets = case.secrets(SECRET, previous=OLD, previous_valid_until=NOW + timedelta(hours=1))
    old = verify(case, case.request(OLD, NOW), secrets)
    assert old.verified, old.message
    assert old.matched_secret == "previous"
    new = verify(case, case.request(SECRET, NOW), secrets)
    assert new.matched_secret == "current"


@case_param
def test_previous_secret_refused_after_rotation_window(case: Case) -> None:
    later = NOW + timedelta(hours=2)
    secrets = case.secrets(SECRET, previous=OLD, previous_valid_until=NOW + timedelta(hours=1))
    result = verify(case, case.request(OLD, later), secrets, later)
    assert result.failure is FailureReason.PREVIOUS_SECRET_EXPIRED
    assert result.http_status == 401
    assert "rotation window" in result.message
    assert verify(case, case.request(SECRET, later), secrets, later).matched_secret == "current"


def test_rotation_window_edge_is_inclusive() -> None:
    case = BY_ID["github"]
    secrets = case.secrets(SECRET, previous=OLD, previous_valid_until=NOW)
    assert verify(case, case.request(OLD, NOW), secrets, NOW).verified
    late = NOW + timedelta(microseconds=1)
    assert not verify(case, case.request(OLD, NOW), secrets, late).verified
    assert secrets.previous_expired(late)
    assert not secrets.previous_expired(NOW)


def test_previous_secret_needs_a_deadline() -> None:
    with pytest.raises(ValueError, match="previous_valid_until"):
        SecretSet(SECRET, OLD)
    with pytest.raises(ValueError, match="timezone-aware"):
        SecretSet(SECRET, OLD, datetime(2026, 1, 1))  # noqa: DTZ001


def test_gitlab_moves_from_secret_token_to_signing_token() -> None:
    """A rotation may change kind: current signing token, previous secret token."""
    body = b'{"object_kind":"push"}'
    secrets = SecretSet(whsec(SECRET), OLD, NOW + timedelta(hours=1))
    verifier = verifier_for("gitlab")
    signed = verifier.verify(
        WebhookRequest.of(sign_gitlab(body, signing_token=whsec(SECRET), now=NOW), body),
        secrets,
        NOW,
    )
    assert (signed.matched_secret, signed.algorithm) == ("current", "hmac-sha256+timestamp")
    tokened = verifier.verify(WebhookRequest.of(sign_gitlab(body, OLD), body), secrets, NOW)
    assert (tokened.matched_secret, tokened.algorithm) == ("previous", "token")
    # A signing key is never compared with a clear token.
    assert not verifier.verify(
        WebhookRequest.of(sign_gitlab(body, whsec(SECRET)), body), SecretSet(whsec(SECRET)), NOW
    ).verified


# --------------------------------------------------------------------------------------------
# Replay tolerance
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case_id", "tolerance"),
    [
        ("linear", timedelta(seconds=60)),
        ("buildkite-signature", timedelta(minutes=5)),
        ("gitlab-signing-token", timedelta(minutes=5)),
    ],
)
@pytest.mark.parametrize("direction", [-1, 1], ids=["past", "future"])
def test_timestamp_tolerance(case_id: str, tolerance: timedelta, direction: int) -> None:
    case = BY_ID[case_id]
    secrets = case.secrets(SECRET)
    fresh_at = NOW + direction * (tolerance - timedelta(seconds=1))
    fresh = verify(case, case.request(SECRET, fresh_at), secrets)
    assert fresh.verified, fresh.message
    assert fresh.algorithm == Algorithm.HMAC_SHA256_TIMESTAMP
    assert fresh.signed_at is not None
    assert abs(fresh.signed_at - fresh_at) < timedelta(seconds=1)

    stale_at = NOW + direction * (tolerance + timedelta(seconds=1))
    stale = verify(case, case.request(SECRET, stale_at), secrets)
    assert stale.failure is FailureReason.STALE_TIMESTAMP
    assert stale.http_status == 401
    assert stale.signed_at is not None


def test_tolerance_can_be_configured() -> None:
    case = BY_ID["linear"]
    request = case.request(SECRET, NOW - timedelta(minutes=3))
    assert not verify(case, request, case.secrets(SECRET)).verified
    wider = verifier_for("linear", tolerance=timedelta(minutes=5))
    assert wider.verify(request, case.secrets(SECRET), NOW).verified


def test_linear_body_without_timestamp_is_refused() -> None:
    for body in (
        b'{"webhookTimestamp":1' + b"0" * 400 + b"}",
        b'{"action":"create"}',
        b'{"webhookTimestamp":true}',
        b'{"webhookTimestamp":"1"}',
        b"[]",
        b"not json",
    ):
        request = WebhookRequest.of(sign_linear(body, SECRET), body)
        result = verifier_for("linear").verify(request, SecretSet(SECRET), NOW)
        assert result.failure is FailureReason.MALFORMED_BODY, body
        assert result.http_status == 400


def test_buildkite_token_mode_can_be_refused() -> None:
    strict = verifier_for("buildkite", accept_token=False)
    request = WebhookRequest.of(buildkite_token_headers(SECRET), b"{}")
    result = strict.verify(request, SecretSet(SECRET), NOW)
    assert result.failure is FailureReason.MISSING_HEADER
    assert "token mode is disabled" in result.message


def test_buildkite_signature_wins_over_token() -> None:
    body = b'{"event":"ping"}'
    headers = {**sign_buildkite(body, SECRET, NOW), "X-Buildkite-Token": "wrong"}
    result = verifier_for("buildkite").verify(
        WebhookRequest.of(headers, body), SecretSet(SECRET), NOW
    )
    assert result.verified
    assert result.algorithm == "hmac-sha256+timestamp"


# --------------------------------------------------------------------------------------------
# Published examples
# --------------------------------------------------------------------------------------------

# https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
# ("Testing the webhook payload validation")
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_SIGNATURE = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_published_test_vector() -> None:
    headers = {"X-Hub-Signature-256": "sha256=" + GITHUB_SIGNATURE, "X-GitHub-Event": "ping"}
    result = verifier_for("github").verify(
        WebhookRequest.of(headers, GITHUB_PAYLOAD), SecretSet(GITHUB_SECRET), NOW
    )
    assert result.verified
    assert (
        sign_github(GITHUB_PAYLOAD, GITHUB_SECRET)["X-Hub-Signature-256"]
        == "sha256=" + GITHUB_SIGNATURE
    )


def test_gitea_matches_github_vector() -> None:
    """Gitea's deliver.go writes one HMAC-SHA256 hex digest into both X-Gitea-Signature (bare)
    and X-Hub-Signature-256 (prefixed), so GitHub's vector holds for Gitea's bare form."""
    result = verifier_for("gitea").verify(
        WebhookRequest.of({"X-Gitea-Signature": GITHUB_SIGNATURE}, GITHUB_PAYLOAD),
        SecretSet(GITHUB_SECRET),
        NOW,
    )
    assert result.verified
    headers = sign_gitea(GITHUB_PAYLOAD, GITHUB_SECRET)
    assert headers["X-Gitea-Signature"] == GITHUB_SIGNATURE
    assert headers["X-Hub-Signature-256"] == "sha256=" + GITHUB_SIGNATURE


@pytest.mark.parametrize("provider", ["bitbucket", "jira"])
def test_atlassian_websub_format(provider: str) -> None:
    """Bitbucket and Jira use the WebSub `X-Hub-Signature: sha256=<hex>` form over the raw body
    (the same HMAC as GitHub's vector). Atlassian's own example value,
    `sha256=c3383246d4fd871e66e962b50cc12222222222222222222222222222222222`, is 62 hex digits:
    a placeholder, which must come out as malformed rather than raise."""
    verifier = verifier_for(provider)
    good = WebhookRequest.of({"X-Hub-Signature": "sha256=" + GITHUB_SIGNATURE}, GITHUB_PAYLOAD)
    assert verifier.verify(good, SecretSet(GITHUB_SECRET), NOW).verified
    placeholder = WebhookRequest.of(
        {
            "X-Hub-Signature": "sha256=c3383246d4fd871e66e962b50cc12222222222222222222222222222222222"
        },
        GITHUB_PAYLOAD,
    )
    assert (
        verifier.verify(placeholder, SecretSet(GITHUB_SECRET), NOW).failure
        is FailureReason.MALFORMED_HEADER
    )


# https://circleci.com/docs/webhooks/#validate-outbound-webhooks
CIRCLECI_VECTORS = [
    (b"hello world", "secret", "734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a"),
    (
        b"lalala",
        "another-secret",
        "daa220016c8f29a8b214fbfc3671aeec2145cfb1e6790184ffb38b6d0425fa00",
    ),
    (
        b"an-important-request-payload",
        "hunter123",
        "9be2242094a9a8c00c64306f382a7f9d691de910b4a266f67bd314ef18ac49fa",
    ),
    (b"foo", "secret", "773ba44693c7553d6ee20f61ea5d2757a9a4f4a44d2841ae4e95b52e4cd62db4"),
]


@pytest.mark.parametrize(("body", "secret", "signature"), CIRCLECI_VECTORS)
def test_circleci_published_vectors(body: bytes, secret: str, signature: str) -> None:
    request = WebhookRequest.of(
        {"circleci-signature": f"v1={signature},v2=ignored,v3=ignored"}, body
    )
    assert verifier_for("circleci").verify(request, SecretSet(secret), NOW).verified
    assert sign_circleci(body, secret)["circleci-signature"] == f"v1={signature}"


def test_circleci_published_invalid_example_and_versions() -> None:
    verifier = verifier_for("circleci")
    invalid = WebhookRequest.of({"circleci-signature": "v1=not-a-valid-signature"}, b"foo")
    assert not verifier.verify(invalid, SecretSet("secret"), NOW).verified
    good = "773ba44693c7553d6ee20f61ea5d2757a9a4f4a44d2841ae4e95b52e4cd62db4"
    several = WebhookRequest.of({"circleci-signature": f"v1={'0' * 64},v1={good}"}, b"foo")
    assert verifier.verify(several, SecretSet("secret"), NOW).verified
    # Only v1 counts: a future version alone is not accepted (no downgrade, no guessing).
    only_v2 = WebhookRequest.of({"circleci-signature": f"v2={good}"}, b"foo")
    assert (
        verifier.verify(only_v2, SecretSet("secret"), NOW).failure is FailureReason.MALFORMED_HEADER
    )


def test_linear_sdk_example() -> None:
    """The payload of Linear's SDK test (packages/sdk/src/_tests/LinearWebhooks.test.ts):
    secret "SECRET", webhookTimestamp 1677611643000. The SDK refuses it as stale today and
    accepts it within a minute of that instant; so must we."""
    payload = {
        "action": "create",
        "data": {
            "id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
            "createdAt": "2020-01-23T12:53:18.084Z",
            "updatedAt": "2020-01-23T12:53:18.084Z",
            "archivedAt": None,
            "body": "Indeed, I think this is definitely an improvement over the previous version.",
            "edited": False,
            "issueId": "539068e2-ae88-4d09-bd75-22eb4a59612f",
            "userId": "aacdca22-6266-4c0a-ab3c-8fa70a26765c",
        },
        "type": "Comment",
        "url": "https://linear.app/issue/LIN-1778/foo-bar#comment-77217de3-fb52-4dad-bb9a-b356beb93de8",
        "createdAt": "2020-01-23T12:53:18.084Z",
        "webhookTimestamp": 1677611643000,
    }
    body = json.dumps(payload, separators=(",", ":")).encode()  # JSON.stringify's output
    signature = hmac.new(b"SECRET", body, "sha256").hexdigest()
    request = WebhookRequest.of({"Linear-Signature": signature, "Linear-Event": "Comment"}, body)
    verifier = verifier_for("linear")
    then = datetime.fromtimestamp(1677611643, UTC)
    accepted = verifier.verify(request, SecretSet("SECRET"), then + timedelta(seconds=30))
    assert accepted.verified
    assert (accepted.event, accepted.action) == ("Comment", "create")
    assert (
        verifier.verify(request, SecretSet("SECRET"), NOW).failure is FailureReason.STALE_TIMESTAMP
    )
    wrong = hmac.new(b"WRONG_SECRET", body, "sha256").hexdigest()
    wrong_request = WebhookRequest.of({"Linear-Signature": wrong}, body)
    assert (
        verifier.verify(wrong_request, SecretSet("SECRET"), then).failure
        is FailureReason.SIGNATURE_MISMATCH
    )


def test_buildkite_published_examples() -> None:
    """Buildkite's docs show `timestamp=1619071700,signature=30222eb5...` (not hex: it holds an
    `l` and an `n`) and a token `309c9c842g8565adecpd7469x6005989`: illustrations, not vectors.
    The signature must be malformed; the token is just a token. The signed content follows the
    docs' Ruby example: HMAC-SHA256 of "#{timestamp}.#{body}"."""
    verifier = verifier_for("buildkite")
    example = "timestamp=1619071700,signature=30222eb518dc3fb61ec9e64dd78d163f62cb134a6ldb768f1d40e0edbn6e43f0"
    malformed = verifier.verify(
        WebhookRequest.of({"X-Buildkite-Signature": example}, b"{}"), SecretSet(SECRET), NOW
    )
    assert malformed.failure is FailureReason.MALFORMED_HEADER
    token = "309c9c842g8565adecpd7469x6005989"
    by_token = verifier.verify(
        WebhookRequest.of({"X-Buildkite-Token": token}, b"{}"), SecretSet(token), NOW
    )
    assert (by_token.verified, by_token.algorithm) == (True, "token")
    signed_at = datetime.fromtimestamp(1619071700, UTC)
    digest = hmac.new(SECRET.encode(), b"1619071700." + b'{"event":"ping"}', "sha256").hexdigest()
    by_hand = WebhookRequest.of(
        {"X-Buildkite-Signature": f"timestamp=1619071700, signature={digest}"}, b'{"event":"ping"}'
    )
    assert verifier.verify(by_hand, SecretSet(SECRET), signed_at).verified


def test_standard_webhooks_published_vector_for_gitlab_signing_tokens() -> None:
    """GitLab signing tokens follow Standard Webhooks; the vector is the reference Python
    library's `test_sign_function` (standard-webhooks/standard-webhooks)."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    then = datetime.fromtimestamp(1614265330, UTC)
    result = verifier_for("gitlab").verify(
        WebhookRequest.of(headers, body), SecretSet(secret), then
    )
    assert result.verified
    assert result.delivery_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    # Several entries, the good one among them (as in the library's multi-signature test).
    many = {
        **headers,
        "webhook-signature": "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc "
        + headers["webhook-signature"],
    }
    assert (
        verifier_for("gitlab")
        .verify(WebhookRequest.of(many, body), SecretSet(secret), then)
        .verified
    )
    signed = sign_gitlab(
        body, signing_token=secret, now=then, idempotency_key="msg_p5jXN8AQM9LWM0D4loKWxJek"
    )
    assert signed["webhook-signature"] == headers["webhook-signature"]


def test_basic_auth_rfc7617_example() -> None:
    """RFC 7617 section 2: Aladdin / open sesame -> QWxhZGRpbjpvcGVuIHNlc2FtZQ==."""
    header = {"Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="}
    secrets = SecretSet(BasicCredentials("Aladdin", "open sesame"))
    result = verifier_for("azure-devops").verify(WebhookRequest.of(header, b"{}"), secrets, NOW)
    assert result.verified
    assert sign_azure_devops("Aladdin", "open sesame")["Authorization"] == header["Authorization"]
    wrong_user = SecretSet(BasicCredentials("aladdin", "open sesame"))
    assert (
        not verifier_for("azure-devops")
        .verify(WebhookRequest.of(header, b"{}"), wrong_user, NOW)
        .verified
    )


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, {"token": "abc123"}),
        ({"token": "abc123"}, {}),
        ({"Authorization": "Bearer abc123"}, {}),
    ],
    ids=["query", "token-header", "bearer"],
)
def test_jenkins_generic_webhook_trigger_examples(
    headers: dict[str, str], query: dict[str, str]
) -> None:
    """The three forms in the Generic Webhook Trigger plugin's README, token `abc123`."""
    request = WebhookRequest.of(headers, b"{}", query=query)
    assert verifier_for("jenkins").verify(request, SecretSet("abc123"), NOW).verified
    assert not verifier_for("jenkins").verify(request, SecretSet("abc124"), NOW).verified


# --------------------------------------------------------------------------------------------
# Constant-time comparisons
# --------------------------------------------------------------------------------------------


@case_param
def test_comparisons_go_through_hmac_compare_digest(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, object]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify(case, case.request(SECRET, NOW), case.secrets(SECRET)).verified
    assert calls, "a match must be decided by hmac.compare_digest"
    calls.clear()
    # A mismatch too, and with a secret of another length (no early length check).
    assert not verify(case, case.request(OTHER + "-longer", NOW), case.secrets(SECRET)).verified
    assert calls, "a mismatch must be decided by hmac.compare_digest"
    # If compare_digest says no, nothing else says yes.
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)
    assert not verify(case, case.request(SECRET, NOW), case.secrets(SECRET)).verified


# --------------------------------------------------------------------------------------------
# Hints, configuration, the provider table
# --------------------------------------------------------------------------------------------


def test_hints_from_headers_and_body() -> None:
    body = json.dumps({"action": "opened"}).encode()
    github = verifier_for("github").verify(
        WebhookRequest.of(sign_github(body, SECRET, event="pull_request", delivery_id="d-1"), body),
        SecretSet(SECRET),
        NOW,
    )
    assert (github.delivery_id, github.event, github.action) == ("d-1", "pull_request", "opened")

    bitbucket = verify(
        BY_ID["bitbucket"], BY_ID["bitbucket"].request(SECRET, NOW), SecretSet(SECRET)
    )
    assert (bitbucket.event, bitbucket.action) == ("pullrequest:created", "created")

    jira = verify(BY_ID["jira"], BY_ID["jira"].request(SECRET, NOW), SecretSet(SECRET))
    assert jira.event == "jira:issue_updated"
    assert jira.delivery_id

    azure = verify(
        BY_ID["azure-devops"],
        BY_ID["azure-devops"].request(SECRET, NOW),
        BY_ID["azure-devops"].secrets(SECRET),
    )
    assert (azure.delivery_id, azure.event) == ("evt-1", "git.push")

    gitlab_body = json.dumps(
        {"object_kind": "merge_request", "object_attributes": {"action": "merge"}}
    ).encode()
    gitlab = verifier_for("gitlab").verify(
        WebhookRequest.of(
            sign_gitlab(gitlab_body, SECRET, event="Merge Request Hook", idempotency_key="k-1"),
            gitlab_body,
        ),
        SecretSet(SECRET),
        NOW,
    )
    assert (gitlab.delivery_id, gitlab.event, gitlab.action) == (
        "k-1",
        "Merge Request Hook",
        "merge",
    )


def test_body_hints_only_after_verification() -> None:
    body = json.dumps({"id": "evt-9", "eventType": "git.push"}).encode()
    request = WebhookRequest.of(sign_azure_devops("krate", OTHER), body)
    result = verifier_for("azure-devops").verify(
        request, SecretSet(BasicCredentials("krate", SECRET)), NOW
    )
    assert not result.verified
    assert result.delivery_id is None
    assert result.event is None


def test_jira_event_helper_and_lenient_body_hints() -> None:
    assert jira_event(b'{"webhookEvent":"comment_created"}') == "comment_created"
    for junk in (b"", b"not json", b"[1,2]", b'{"webhookEvent": 5}', b"\xff\xfe"):
        assert body_hints("jira", junk).event in {None, "5"}
    assert body_hints("circleci", b'{"id":"c-1","type":"job-completed"}').delivery_id == "c-1"


def test_method_and_configuration_failures() -> None:
    case = BY_ID["github"]
    request = case.request(SECRET, NOW)
    get = WebhookRequest.of(dict(request.headers), request.body, method="GET")
    assert verify(case, get, SecretSet(SECRET)).http_status == 405
    unconfigured = verifier_for("github").verify(request, None, NOW)
    assert unconfigured.failure is FailureReason.NOT_CONFIGURED
    assert unconfigured.http_status == 500
    wrong_kind = verifier_for("github").verify(request, SecretSet(BasicCredentials("a", "b")), NOW)
    assert wrong_kind.failure is FailureReason.NOT_CONFIGURED
    basic_with_string = verifier_for("azure-devops").verify(request, SecretSet(SECRET), NOW)
    assert basic_with_string.failure is FailureReason.NOT_CONFIGURED
    with pytest.raises(ValueError, match="timezone-aware"):
        verifier_for("github").verify(request, SecretSet(SECRET), datetime(2026, 1, 1))  # noqa: DTZ001


def test_none_needs_registry_and_explicit_opt_in() -> None:
    request = WebhookRequest.of({}, b"{}")
    refused = verifier_for("jenkins", registry_scheme="none").verify(request, None, NOW)
    assert refused.failure is FailureReason.NOT_CONFIGURED
    accepted = verifier_for("jenkins", registry_scheme="none", allow_unverified=True).verify(
        request, None, NOW
    )
    assert (accepted.verified, accepted.algorithm, accepted.matched_secret) == (True, "none", None)
    # Opting in means nothing while the registry says the provider can be verified.
    assert (
        verifier_for("jenkins", allow_unverified=True)
        .verify(request, SecretSet(SECRET), NOW)
        .failure
        is FailureReason.MISSING_HEADER
    )


def test_custom_fails_closed_and_unknown_types_are_named() -> None:
    result = verifier_for("custom").verify(WebhookRequest.of({}, b"{}"), SecretSet(SECRET), NOW)
    assert result.failure is FailureReason.NOT_CONFIGURED
    assert signature_headers_present("custom", {})
    with pytest.raises(UnknownProviderTypeError, match="github"):
        verifier_for("sourcehut")


def test_signature_headers_per_provider() -> None:
    assert signature_headers("github") == {"X-Hub-Signature-256"}
    assert signature_headers("buildkite") == {"X-Buildkite-Signature", "X-Buildkite-Token"}
    assert signature_headers("gitlab") == {"X-Gitlab-Token", "webhook-signature"}
    assert signature_headers_present("jenkins", {}, {"token": "x"})
    assert not signature_headers_present("jenkins", {}, {"token": " "})
    assert not signature_headers_present("gitea", {"X-Gitea-Signature": ""})


def test_headers_mapping() -> None:
    headers = Headers([("X-Token", "one"), ("x-token", "two"), ("Other", " v ")])
    assert headers["x-TOKEN"] == "one"
    assert "X-TOKEN" in headers
    assert headers.value("other") == "v"
    assert len(headers) == 2
    assert "one" not in repr(headers)


def test_every_provider_type_has_a_verifier() -> None:
    protocol: Verifier = verifier_for("github")  # statically: BaseVerifier is a Verifier
    assert protocol.algorithm == "hmac-sha256"
    assert set(VERIFIERS) == {
        "github", "gitlab", "gitea", "bitbucket", "jira", "linear",
        "buildkite", "circleci", "azure-devops", "jenkins", "custom",
    }  # fmt: skip


# Registry scheme family → the algorithms our verifier may report for it.
_FAMILIES = {
    "hmac-sha256": {"hmac-sha256", "hmac-sha256+timestamp"},
    "token": {"token"},
    "basic-auth": {"basic"},
    "adapter-defined": {"adapter-defined"},
    "none": {"none"},
}


def test_registry_agrees_with_verifiers() -> None:
    """Headers, schemes and tolerances in providers/registry/*.yaml match the verifiers."""
    from providers.registry import ProviderTypeRegistry

    registry = ProviderTypeRegistry.load()
    assert set(registry.names()) == set(VERIFIERS)
    for descriptor in registry:
        signature = descriptor.webhook_signature
        verifier = verifier_for(descriptor.provider_type)
        assert verifier.algorithm in _FAMILIES[signature.scheme.value], descriptor.provider_type
        for way in [signature, *signature.alternatives]:
            if way.header:
                assert way.header in verifier.signature_headers, (
                    descriptor.provider_type,
                    way.header,
                )
            if way.query_parameter:
                assert way.query_parameter in verifier.signature_query_params
        if signature.timestamp_tolerance is not None:
            assert getattr(verifier, "tolerance", None) == signature.timestamp_tolerance


def test_package_imports_no_framework_or_store() -> None:
    code = (
        "import sys, providers.webhooks; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'starlette', 'temporalio', 'store', 'sqlmodel', 'sqlalchemy', 'httpx', 'workflows'}); "
        "print(','.join(bad))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
