"""The git forge on GitHub, beyond pull requests: repositories, refs, commits, deploy keys,
collaborators and branch protection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from providers.base import (
    BranchProtectionSpec,
    Cursor,
    DeployKeySpec,
    ExternalBranchProtection,
    ExternalCollaborator,
    ExternalCommit,
    ExternalDeployKey,
    ExternalRef,
    ExternalRepository,
    Page,
    ProviderNotFound,
    RepoRef,
    SyncResult,
)
from providers.github import mapping
from providers.github.auth import AppInstallationAuth
from providers.github.operations import Operations, collect_all, object_of, repo_path, to_page
from providers.github.pagination import MAX_PER_PAGE

RefPhase = Literal["branches", "tags"]


@dataclass
class DeployKeyPlan:
    """What `sync_deploy_keys` will do: keys to add, keys to replace (same key material, other
    access: GitHub keys are immutable, so delete then add), keys to delete, keys to keep."""

    create: list[DeployKeySpec] = field(default_factory=list)
    replace: list[tuple[ExternalDeployKey, DeployKeySpec]] = field(default_factory=list)
    delete: list[ExternalDeployKey] = field(default_factory=list)
    keep: list[ExternalDeployKey] = field(default_factory=list)


def key_material(key: str) -> str:
    """`type base64` of an OpenSSH public key: GitHub drops or rewrites the trailing comment."""
    return " ".join(key.split()[:2])


def plan_deploy_key_sync(
    current: Sequence[ExternalDeployKey], desired: Sequence[DeployKeySpec]
) -> DeployKeyPlan:
    """Compare the keys on GitHub with the desired set, matching on key material.

    A title difference alone is not a change (GitHub cannot rename a key; replacing it would
    change its id and break nothing but audit trails), so it is kept as is.
    """
    plan = DeployKeyPlan()
    by_material: dict[str, ExternalDeployKey] = {}
    for existing in current:
        material = key_material(existing.key)
        if material in by_material:
            plan.delete.append(existing)  # a duplicate: GitHub should not allow it, tidy it up
        else:
            by_material[material] = existing
    wanted: set[str] = set()
    for spec in desired:
        material = key_material(spec.key)
        if material in wanted:
            continue
        wanted.add(material)
        found = by_material.get(material)
        if found is None:
            plan.create.append(spec)
        elif found.read_only != spec.read_only:
            plan.replace.append((found, spec))
        else:
            plan.keep.append(found)
    plan.delete.extend(k for m, k in by_material.items() if m not in wanted)
    return plan


class RepositoryOperations(Operations):
    """GitHub repositories and their settings (most of `GitForgeProvider`)."""

    # Repositories -------------------------------------------------------------------------

    async def list_repositories(
        self, cursor: Cursor | None = None, *, owner: str | None = None, etag: str | None = None
    ) -> Page[ExternalRepository]:
        """With `owner`, that organization's repositories; otherwise the repositories the
        credentials reach (App: the installation's; token: the user's)."""
        items_key: str | None = None
        params: dict[str, str | int | bool] = {"per_page": MAX_PER_PAGE}
        if owner is not None:
            path = f"/orgs/{quote(owner, safe='')}/repos"
            params["type"] = "all"
        elif isinstance(self.client.auth, AppInstallationAuth):
            path, items_key = "/installation/repositories", "repositories"
        else:
            path = "/user/repos"
        raw = await self.client.get_page(
            path, params=params, cursor=cursor, etag=etag, items_key=items_key
        )
        return to_page(raw, lambda item: mapping.repository(item, self.context))

    async def list_owner_repositories(
        self, owner: str, cursor: Cursor | None = None
    ) -> Page[ExternalRepository]:
        """The repositories of `owner` these credentials see, for an owner-wide binding: an
        App installation's own listing (what `installation_repositories` webhooks change),
        else the organization's. Repositories of other accounts are left out of the page."""
        if isinstance(self.client.auth, AppInstallationAuth):
            page = await self.list_repositories(cursor)
            wanted = owner.lower()
            items = [r for r in page.items if r.owner.lower() == wanted]
            return page.model_copy(update={"items": items})
        return await self.list_repositories(cursor, owner=owner)

    async def get_repository(self, repo: RepoRef) -> ExternalRepository:
        response = await self.client.request("GET", repo_path(repo))
        raw = object_of(response, "repository")
        return mapping.repository(raw, self.context, etag=response.headers.get("etag"))

    # Refs and commits ---------------------------------------------------------------------

    async def list_branches(self, repo: RepoRef, cursor: Cursor | None = None) -> Page[ExternalRef]:
        return await self._list_refs_of(repo, "branches", cursor)

    async def list_tags(self, repo: RepoRef, cursor: Cursor | None = None) -> Page[ExternalRef]:
        return await self._list_refs_of(repo, "tags", cursor)

    async def list_refs(self, repo: RepoRef, cursor: Cursor | None = None) -> Page[ExternalRef]:
        """Branches, then tags, as one listing: the cursor's `phase` says which is being read."""
        phase: RefPhase = "tags" if cursor is not None and cursor.phase == "tags" else "branches"
        page = await self._list_refs_of(repo, phase, cursor)
        if page.next_cursor is None and phase == "branches":
            return page.model_copy(update={"next_cursor": Cursor(phase="tags")})
        return page

    async def _list_refs_of(
        self, repo: RepoRef, phase: RefPhase, cursor: Cursor | None
    ) -> Page[ExternalRef]:
        kind: Literal["branch", "tag"] = "branch" if phase == "branches" else "tag"
        raw = await self.client.get_page(
            f"{repo_path(repo)}/{phase}",
            params={"per_page": MAX_PER_PAGE},
            cursor=cursor if cursor is not None and cursor.next_url else None,
            phase=phase,
        )
        return to_page(
            raw,
            lambda item: mapping.ref(
                item,
                self.context,
                repository=repo.full_name,
                kind=kind,
                api_base=self.client.base_url,
            ),
        )

    async def get_commit(self, repo: RepoRef, sha: str) -> ExternalCommit:
        """One commit, read on demand (commits are not backfilled)."""
        raw = await self._get_object(f"{repo_path(repo)}/commits/{quote(sha, safe='')}", "commit")
        return mapping.commit(raw, self.context, repository=repo.full_name)

    # Deploy keys --------------------------------------------------------------------------

    async def list_deploy_keys(
        self, repo: RepoRef, cursor: Cursor | None = None
    ) -> Page[ExternalDeployKey]:
        raw = await self.client.get_page(
            f"{repo_path(repo)}/keys", params={"per_page": MAX_PER_PAGE}, cursor=cursor
        )
        return to_page(
            raw, lambda item: mapping.deploy_key(item, self.context, repository=repo.full_name)
        )

    async def sync_deploy_keys(self, repo: RepoRef, desired: Sequence[DeployKeySpec]) -> SyncResult:
        """Make the repository's deploy keys exactly `desired`: add the missing, delete the
        extra, replace those whose access differs. Ids in the result are GitHub key ids."""
        current = await collect_all(lambda c: self.list_deploy_keys(repo, c))
        plan = plan_deploy_key_sync(current, desired)
        result = SyncResult(unchanged=[k.external.native_id for k in plan.keep])
        # Replacements first: the same key material cannot be added while the old one exists.
        for old, spec in plan.replace:
            await self._delete_deploy_key(repo, old)
            added = await self._add_deploy_key(repo, spec)
            result.updated.append(added.external.native_id)
        # Additions before deletions, so a rotation never leaves the repository without a key.
        for spec in plan.create:
            added = await self._add_deploy_key(repo, spec)
            result.created.append(added.external.native_id)
        for extra in plan.delete:
            await self._delete_deploy_key(repo, extra)
            result.deleted.append(extra.external.native_id)
        return result

    async def _add_deploy_key(self, repo: RepoRef, spec: DeployKeySpec) -> ExternalDeployKey:
        raw = await self._send_object(
            "POST", f"{repo_path(repo)}/keys", spec.model_dump(), "deploy key"
        )
        return mapping.deploy_key(raw, self.context, repository=repo.full_name)

    async def _delete_deploy_key(self, repo: RepoRef, key: ExternalDeployKey) -> None:
        try:
            await self.client.request(
                "DELETE", f"{repo_path(repo)}/keys/{int(key.external.native_id)}"
            )
        except ProviderNotFound:
            pass  # already gone: the goal is reached

    # Collaborators ------------------------------------------------------------------------

    async def list_collaborators(
        self, repo: RepoRef, cursor: Cursor | None = None
    ) -> Page[ExternalCollaborator]:
        """Everyone with access (direct, organization and team), with their permission."""
        raw = await self.client.get_page(
            f"{repo_path(repo)}/collaborators",
            params={"affiliation": "all", "per_page": MAX_PER_PAGE},
            cursor=cursor,
        )
        return to_page(
            raw, lambda item: mapping.collaborator(item, self.context, repository=repo.full_name)
        )

    # Branch protection --------------------------------------------------------------------

    def _protection_path(self, repo: RepoRef, branch: str) -> str:
        return f"{repo_path(repo)}/branches/{quote(branch, safe='')}/protection"

    async def get_branch_protection(
        self, repo: RepoRef, branch: str
    ) -> ExternalBranchProtection | None:
        """The branch's protection, or None when it is not protected (a missing branch still
        raises `ProviderNotFound`)."""
        try:
            raw = await self._get_object(self._protection_path(repo, branch), "branch protection")
        except ProviderNotFound as exc:
            if "not protected" in exc.message.lower():
                return None
            raise
        return mapping.branch_protection(
            raw, self.context, repository=repo.full_name, branch=branch
        )

    async def sync_branch_protection(
        self, repo: RepoRef, branch: str, desired: BranchProtectionSpec | None
    ) -> SyncResult:
        """Make the branch's protection equal `desired` (None: unprotected). Settings outside
        the normalized spec (lock_branch, allow_fork_syncing, ...) keep their current values."""
        current = await self.get_branch_protection(repo, branch)
        path = self._protection_path(repo, branch)
        if desired is None:
            if current is None:
                return SyncResult(unchanged=[branch])
            try:
                await self.client.request("DELETE", path)
            except ProviderNotFound:
                pass  # unprotected in the meantime
            return SyncResult(deleted=[branch])
        if current is not None and current.spec == desired:
            return SyncResult(unchanged=[branch])
        preserved = current.external.extensions.fields if current is not None else None
        body = mapping.branch_protection_body(desired, preserved=preserved)
        await self.client.request("PUT", path, json=body)
        if current is None:
            return SyncResult(created=[branch])
        return SyncResult(updated=[branch])
