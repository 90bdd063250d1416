"""A branch protection as a `RefPolicy`: the rules a forge enforces on matching refs.

`BranchProtection` keeps a provider's protection settings as the provider groups them;
`RefPolicy` flattens the part every forge has (reviews, checks, force pushes, deletions, linear
history, who may push) into one row per pattern, so policies compare across providers and Krate
can enforce the same rules on its own refs. It is derived, never read on its own: it shares its
protection's envelope and version, and goes when the protection goes.
"""

from __future__ import annotations

from providers.base import ExternalBranchProtection, ExternalRefPolicy

REF_POLICY_KIND = "ref_policy"


def ref_policy_of(protection: ExternalBranchProtection) -> ExternalRefPolicy:
    spec = protection.spec
    reviews = spec.required_pull_request_reviews
    checks = spec.required_status_checks
    restrictions = spec.restrictions
    pushers = (
        [
            *restrictions.users,
            *(f"team:{t}" for t in restrictions.teams),
            *(f"app:{a}" for a in restrictions.apps),
        ]
        if restrictions is not None
        else None
    )
    external = protection.external.model_copy(
        update={
            "native_kind": REF_POLICY_KIND,
            # The provider's leftovers stay with the protection; the policy is all normalized.
            "extensions": protection.external.extensions.model_copy(update={"fields": {}}),
        }
    )
    return ExternalRefPolicy(
        external=external,
        repository=protection.repository,
        pattern=protection.branch,
        required_approvals=reviews.required_approving_review_count if reviews else 0,
        require_code_owner_review=reviews.require_code_owner_reviews if reviews else False,
        dismiss_stale_reviews=reviews.dismiss_stale_reviews if reviews else False,
        require_last_push_approval=reviews.require_last_push_approval if reviews else False,
        required_checks=list(checks.contexts) if checks else [],
        require_up_to_date=checks.strict if checks else False,
        enforce_admins=spec.enforce_admins,
        allow_force_push=spec.allow_force_pushes,
        allow_deletion=spec.allow_deletions,
        require_linear_history=spec.required_linear_history,
        require_conversation_resolution=spec.required_conversation_resolution,
        push_allowed=pushers,
    )
