"""Secret refs resolved from the Secret-as-directory layout, and the provider factory built on
them: credentials modes, clear configuration errors, values never shown, adapters cached."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from activities.backfill_models import BindingRef
from activities.provider_factory import ProviderFactory
from activities.secrets import ConfigurationError, SecretRef, read_secret, require_key
from providers.base import ProviderConfigurationError
from providers.github import AppInstallationAuth, StaticToken
from tests.test_github_adapter_fixtures import TEST_APP_KEY_PEM


def _write(root: Path, namespace: str, name: str, **keys: str) -> Path:
    path = root / namespace / name
    path.mkdir(parents=True, exist_ok=True)
    for key, value in keys.items():
        (path / key).write_text(value)
    return path


def _binding(**changes: object) -> BindingRef:
    base = BindingRef(
        org="acme",
        namespace="krate",
        binding="github-krate",
        provider="github-a5c",
        provider_type="github",
        api_base_url="http://github.test",
        auth_secret="github-auth",
    )
    return base.model_copy(update=changes)


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request {request.url}")


def test_reads_keys_and_skips_kubernetes_bookkeeping(tmp_path: Path) -> None:
    path = _write(tmp_path, "krate", "s", token="abc\n", other="x")
    (path / "..data").mkdir()
    values = read_secret(tmp_path, SecretRef("krate", "s"))
    assert set(values) == {"token", "other"}
    assert "abc" not in repr(values)
    assert require_key(values, "token", SecretRef("krate", "s"), tmp_path) == "abc"


def test_missing_secret_names_the_directory_to_create(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        read_secret(tmp_path, SecretRef("krate", "absent"))
    assert str(tmp_path / "krate" / "absent") in str(caught.value)


def test_missing_key_names_the_file_to_create(tmp_path: Path) -> None:
    _write(tmp_path, "krate", "s", appId="1")
    values = read_secret(tmp_path, SecretRef("krate", "s"))
    with pytest.raises(ConfigurationError) as caught:
        require_key(values, "privateKey", SecretRef("krate", "s"), tmp_path)
    assert str(tmp_path / "krate" / "s" / "privateKey") in str(caught.value)


@pytest.mark.parametrize("bad", ["..", "a/b", ""])
def test_refs_cannot_leave_the_secrets_directory(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigurationError):
        read_secret(tmp_path, SecretRef("krate", bad))


async def test_token_adapter_is_cached_per_secret(tmp_path: Path) -> None:
    _write(tmp_path, "krate", "github-auth", token="t1\n")
    factory = ProviderFactory(tmp_path, transport_factory=lambda _b: httpx.MockTransport(_refuse))
    first = factory.github(_binding())
    assert isinstance(first.client.auth, StaticToken)
    assert await first.client.auth.token() == "t1"
    assert factory.github(_binding(binding="other-binding")) is first
    _write(tmp_path, "krate", "github-auth", token="t2\n")  # rotated
    second = factory.github(_binding())
    assert second is not first
    assert await second.client.auth.token() == "t2"
    await factory.aclose()


async def test_app_credentials_with_the_bindings_installation(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "secrets-ns",
        "github-auth",
        appId="777\n",
        privateKey=TEST_APP_KEY_PEM,
        installationId="1\n",
    )
    factory = ProviderFactory(tmp_path, transport_factory=lambda _b: httpx.MockTransport(_refuse))
    adapter = factory.github(_binding(auth_secret_namespace="secrets-ns", installation_id=4242))
    assert isinstance(adapter.client.auth, AppInstallationAuth)
    assert adapter.client.auth._installation_id == 4242
    without = factory.github(_binding(auth_secret_namespace="secrets-ns"))
    assert isinstance(without.client.auth, AppInstallationAuth)
    assert without.client.auth._installation_id == 1
    await factory.aclose()


def test_incomplete_app_credentials(tmp_path: Path) -> None:
    _write(tmp_path, "krate", "github-auth", appId="777")
    factory = ProviderFactory(tmp_path)
    with pytest.raises(ConfigurationError, match="privateKey"):
        factory.github(_binding())


def test_unknown_provider_type_lists_the_supported(tmp_path: Path) -> None:
    factory = ProviderFactory(tmp_path)
    with pytest.raises(ConfigurationError, match="supported so far: github"):
        factory.github(_binding(provider_type="gitlab"))


def test_binding_without_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="names no auth Secret"):
        ProviderFactory(tmp_path).github(_binding(auth_secret=None))


def test_values_never_reach_logs_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _write(
        tmp_path, "krate", "github-auth", appId="777", privateKey="TOPSECRET", installationId="5"
    )
    with pytest.raises((ConfigurationError, ProviderConfigurationError)) as caught:
        ProviderFactory(tmp_path).github(_binding())
    assert "TOPSECRET" not in str(caught.value)
    assert "TOPSECRET" not in caplog.text
