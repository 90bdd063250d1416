"""Deterministic demo data: the same seed gives the same organizations, repositories, issues,
pull requests, comments, reviews, workflow runs, branches and tags, with ids, numbers and
timestamps spread the way a lived-in repository's are (most activity recent, a long tail)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from providers.github.simulator.ids import git_sha
from providers.github.simulator.models import (
    Branch,
    Collaborator,
    DeployKey,
    Hook,
    Issue,
    IssueComment,
    Job,
    Milestone,
    PullData,
    Review,
    ReviewComment,
    Step,
    Tag,
    Team,
    User,
    WorkflowRun,
)
from providers.github.simulator.state import Repo, SimState

LOGINS = [
    "ada", "grace", "linus", "margaret", "dennis", "barbara", "ken", "frances", "guido", "radia",
    "donald", "hedy", "edsger", "katherine", "alan", "annie", "bjarne", "sophie", "yukihiro",
    "jean", "tim", "lynn", "niklaus", "mary",
]  # fmt: skip
DEFAULT_LABELS = [
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
]
WORDS = (
    "sync webhook backfill cursor etag retry pagination token installation label milestone "
    "review branch merge conflict timeout schedule worker activity projection envelope"
).split()
WORKFLOWS = [("CI", ".github/workflows/ci.yml"), ("Release", ".github/workflows/release.yml")]
JOB_NAMES = ["lint", "test (3.11)", "test (3.12)", "build", "docs", "e2e"]
STEP_NAMES = ["Set up job", "Checkout", "Install", "Run", "Post Checkout", "Complete job"]
ROLES = ["admin", "maintain", "write", "triage", "read"]


@dataclass
class SeedConfig:
    seed: int = 0
    owners: list[str] = field(default_factory=lambda: ["krate-demo"])
    repos: int = 2  # per owner
    issues: int = 40  # per repository, pull requests not included
    pulls: int = 20  # per repository
    comments: int = 3  # average per issue or pull request
    reviews: int = 1  # average per pull request
    review_comments: int = 2  # average per pull request
    runs: int = 10  # per repository
    jobs: int = 3  # per run
    branches: int = 5  # per repository, besides the default branch
    tags: int = 3  # per repository
    commits: int = 30  # on the default branch
    until: datetime | None = None  # newest timestamp; default: today 00:00 UTC
    span_days: int = 365


def _skewed(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A time between start and end, leaning towards end (recent activity is denser)."""
    seconds = max(0, int((end - start).total_seconds()))
    return start + timedelta(seconds=int(seconds * (rng.random() ** 0.35)))


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = max(0, int((end - start).total_seconds()))
    return start + timedelta(seconds=rng.randint(0, seconds))


def _title(rng: random.Random, kind: str) -> str:
    verb = {"issue": ["Fix", "Investigate", "Support", "Document"], "pull": ["Add", "Refactor"]}
    return f"{rng.choice(verb[kind])} {' '.join(rng.sample(WORDS, 3))}"


def _around(rng: random.Random, mean: int) -> int:
    return rng.randint(0, 2 * mean) if mean > 0 else 0


def seed_state(state: SimState, config: SeedConfig) -> list[Repo]:
    """Fill `state` with `config`'s data and return the repositories created."""
    rng = random.Random(config.seed)
    until = config.until or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = until - timedelta(days=config.span_days)
    people = [state.user(login) for login in LOGINS]
    bot = state.user("github-actions[bot]", "Bot")
    created: list[Repo] = []
    for owner_login in config.owners:
        owner = state.user(owner_login, "Organization")
        for index in range(config.repos):
            name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{index + 1}"
            while f"{owner_login}/{name}".lower() in state.repos:  # seeding more data later
                name += "-x"
            repo = state.add_repo(
                owner,
                name,
                start - timedelta(days=rng.randint(1, 700)),
                description=f"Demo repository {index + 1} of {owner_login}",
                topics=sorted(rng.sample(WORDS, 2)),
            )
            _seed_repo(state, repo, config, rng, people, bot, start, until)
            created.append(repo)
    return created


def _seed_repo(
    state: SimState,
    repo: Repo,
    cfg: SeedConfig,
    rng: random.Random,
    people: list[User],
    bot: User,
    start: datetime,
    until: datetime,
) -> None:
    members = rng.sample(people, min(len(people), 8))
    for position, member in enumerate(members):
        role = ROLES[min(position, len(ROLES) - 1)]
        repo.collaborators[member.login.lower()] = Collaborator(member, role)
    # Two teams per repository, numbered from the repository's id (not from the generator, so
    # the rest of the seeded world is the same with or without them).
    for n, (slug, role) in enumerate((("maintainers", "maintain"), ("readers", "read")), 1):
        repo.teams[slug] = Team(repo.id * 10 + n, slug, slug.capitalize(), role)
    for name, color, description in DEFAULT_LABELS:
        label = state.ensure_label(repo, name, color)
        label.description, label.default = description, True
    for number in range(1, 4):
        ms_created = _between(rng, repo.created_at, start)
        repo.milestones[number] = Milestone(
            id=state.ids.next("milestone"),
            number=number,
            title=f"v{number}.0",
            creator=members[0],
            created_at=ms_created,
            updated_at=_between(rng, start, until),
            description=f"Release {number}.0",
            due_on=until + timedelta(days=30 * number),
        )

    # Linear history on the default branch, then feature branches and tags off it.
    times = sorted(_between(rng, repo.created_at, until) for _ in range(max(1, cfg.commits)))
    parent: str | None = None
    for n, when in enumerate(times):
        parent = state.add_commit(
            repo, f"{_title(rng, 'pull')} ({n + 1})", rng.choice(members), when, parent
        ).sha
    assert parent is not None
    repo.branches[repo.default_branch] = Branch(repo.default_branch, parent)
    repo.branches[repo.default_branch].protection = {
        "required_status_checks": {"strict": True, "contexts": ["CI"]},
        "enforce_admins": False,
        "required_pull_request_reviews": {"required_approving_review_count": 1},
        "restrictions": None,
    }
    repo.pushed_at = times[-1]
    for n in range(cfg.branches):
        name = f"feature/{rng.choice(WORDS)}-{n + 1}"
        base_commit = rng.choice(repo.commit_order)
        tip = state.add_commit(
            repo, _title(rng, "pull"), rng.choice(members), base_commit.date, base_commit.sha
        )
        repo.branches[name] = Branch(name, tip.sha)
    for n in range(cfg.tags):
        at = repo.commit_order[min(len(times) - 1, (n + 1) * len(times) // (cfg.tags + 1))]
        repo.tags[f"v0.{n + 1}.0"] = Tag(f"v0.{n + 1}.0", at.sha)
    for n in range(rng.randint(1, 2)):
        key_id = state.ids.next("key")
        repo.keys[key_id] = DeployKey(
            id=key_id,
            title=f"deploy-{n + 1}",
            key=f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{git_sha(repo.id, n)[:32]}",
            read_only=n == 0,
            created_at=_between(rng, repo.created_at, until),
            added_by=members[0].login,
        )

    # One hook per repository, from its own id sequence and no random draws, so the rest of
    # the seeded world is the same with or without it.
    hook_id = state.ids.next("hook")
    repo.hooks[hook_id] = Hook(
        id=hook_id,
        events=["push", "pull_request", "issues"],
        config={
            "url": "https://ci.example.com/hooks/github",
            "content_type": "json",
            "insecure_ssl": "0",
            "secret": "seeded-secret",
        },
        created_at=repo.created_at,
        updated_at=repo.created_at,
    )

    _seed_issues(state, repo, cfg, rng, members, start, until)
    _seed_runs(state, repo, cfg, rng, members, bot, start, until)
    repo.updated_at = max([repo.pushed_at, *(i.updated_at for i in repo.issues.values())])
    repo.touch()


def _seed_issues(
    state: SimState,
    repo: Repo,
    cfg: SeedConfig,
    rng: random.Random,
    members: list[User],
    start: datetime,
    until: datetime,
) -> None:
    total = cfg.issues + cfg.pulls
    pull_numbers = set(rng.sample(range(1, total + 1), cfg.pulls))
    created_times = sorted(_between(rng, start, until) for _ in range(total))
    labels = list(repo.labels.values())
    main = repo.branches[repo.default_branch]
    for number, created in enumerate(created_times, start=1):
        is_pull = number in pull_numbers
        author = rng.choice(members)
        updated = _skewed(rng, created, until)
        issue = Issue(
            id=state.ids.next("issue"),
            number=number,
            title=_title(rng, "pull" if is_pull else "issue"),
            user=author,
            created_at=created,
            updated_at=updated,
            body=f"Seeded {'pull request' if is_pull else 'issue'} #{number}.",
            labels=rng.sample(labels, rng.randint(0, 2)),
            assignees=rng.sample(members, rng.randint(0, 2)),
            milestone=repo.milestones.get(rng.randint(1, 6)),
        )
        if is_pull:
            head_ref = f"topic/{number}-{rng.choice(WORDS)}"
            issue.pull = PullData(
                id=state.ids.next("pull"),
                head_ref=head_ref,
                head_sha=git_sha(repo.id, head_ref),
                base_ref=repo.default_branch,
                base_sha=main.sha,
                draft=rng.random() < 0.1,
                commits=rng.randint(1, 8),
                additions=rng.randint(1, 400),
                deletions=rng.randint(0, 200),
                changed_files=rng.randint(1, 12),
                requested_reviewers=rng.sample(members, rng.randint(0, 1)),
            )
        if rng.random() < 0.45:
            closed = _between(rng, created, updated)
            issue.state, issue.closed_at, issue.closed_by = "closed", closed, rng.choice(members)
            if issue.pull is not None:
                if not issue.pull.draft and rng.random() < 0.7:
                    issue.pull.merged_at = closed
                    issue.pull.merged_by = issue.closed_by
                    issue.pull.merge_commit_sha = git_sha(repo.id, "merge", number)
            else:
                issue.state_reason = "completed" if rng.random() < 0.8 else "not_planned"
        repo.issues[number] = issue
        for _ in range(_around(rng, cfg.comments)):
            when = _between(rng, created, updated)
            comment = IssueComment(
                id=state.ids.next("issue_comment"),
                issue_number=number,
                user=rng.choice(members),
                body="Seeded comment.",
                created_at=when,
                updated_at=_between(rng, when, updated),
            )
            repo.comments[comment.id] = comment
            repo.comments_by_issue.setdefault(number, []).append(comment)
            issue.comments += 1
        if issue.pull is not None:
            _seed_review_activity(state, repo, issue, cfg, rng, members)
    repo.next_number = total + 1
    # Comments were drawn per issue; GitHub's comment ids grow with creation time.
    ordered = sorted(repo.comments.values(), key=lambda c: (c.created_at, c.id))
    ids = sorted(c.id for c in ordered)
    repo.comments = {}
    repo.comments_by_issue = {}
    for comment, new_id in zip(ordered, ids, strict=True):
        comment.id = new_id
        repo.comments[new_id] = comment
        repo.comments_by_issue.setdefault(comment.issue_number, []).append(comment)


def _seed_review_activity(
    state: SimState,
    repo: Repo,
    issue: Issue,
    cfg: SeedConfig,
    rng: random.Random,
    members: list[User],
) -> None:
    pull = issue.pull
    assert pull is not None
    reviews = repo.reviews_by_pull.setdefault(issue.number, [])
    for _ in range(_around(rng, cfg.reviews)):
        reviews.append(
            Review(
                id=state.ids.next("review"),
                pull_number=issue.number,
                user=rng.choice(members),
                body=rng.choice(["", "Looks good.", "A few questions inline."]),
                state=rng.choice(["APPROVED", "CHANGES_REQUESTED", "COMMENTED"]),
                commit_id=pull.head_sha,
                submitted_at=_between(rng, issue.created_at, issue.updated_at),
            )
        )
    comments = repo.review_comments_by_pull.setdefault(issue.number, [])
    for n in range(_around(rng, cfg.review_comments)):
        when = _between(rng, issue.created_at, issue.updated_at)
        line = rng.randint(1, 200)
        comment = ReviewComment(
            id=state.ids.next("review_comment"),
            pull_number=issue.number,
            review_id=reviews[0].id if reviews else None,
            user=rng.choice(members),
            body="Could this be simpler?" if n % 2 == 0 else "Done.",
            path=f"src/{rng.choice(WORDS)}.py",
            diff_hunk=f"@@ -{line},6 +{line},7 @@",
            commit_id=pull.head_sha,
            line=line,
            created_at=when,
            updated_at=_between(rng, when, issue.updated_at),
            in_reply_to_id=comments[-1].id if comments and n % 2 == 1 else None,
        )
        comments.append(comment)
        repo.review_comments[comment.id] = comment
        pull.review_comments += 1


def _seed_runs(
    state: SimState,
    repo: Repo,
    cfg: SeedConfig,
    rng: random.Random,
    members: list[User],
    bot: User,
    start: datetime,
    until: datetime,
) -> None:
    del bot  # runs are triggered by people in the demo data
    workflow_ids = {path: state.ids.next("workflow") for _, path in WORKFLOWS}
    run_numbers = dict.fromkeys(workflow_ids, 0)
    pulls = [i for i in repo.issues.values() if i.pull is not None]
    created_times = sorted(_between(rng, start, until) for _ in range(cfg.runs))
    for position, created in enumerate(created_times):
        name, path = WORKFLOWS[0] if rng.random() < 0.8 else WORKFLOWS[1]
        run_numbers[path] += 1
        pull = rng.choice(pulls) if pulls and rng.random() < 0.5 else None
        recent = position >= cfg.runs - 2
        status = rng.choice(["in_progress", "queued"]) if recent else "completed"
        conclusion = None if recent else ("success" if rng.random() < 0.75 else "failure")
        started = created + timedelta(seconds=rng.randint(1, 30))
        finished = started + timedelta(seconds=rng.randint(60, 900))
        if pull is not None and pull.pull is not None:
            branch, sha, event, title = (
                pull.pull.head_ref,
                pull.pull.head_sha,
                "pull_request",
                (pull.title),
            )
        else:
            branch = repo.default_branch
            commit = rng.choice(repo.commit_order)
            sha, event, title = commit.sha, "push", commit.message
        run = WorkflowRun(
            id=state.ids.next("run"),
            name=name,
            workflow_id=workflow_ids[path],
            path=path,
            run_number=run_numbers[path],
            event=event,
            status=status,
            conclusion=conclusion,
            head_branch=branch,
            head_sha=sha,
            head_message=title,
            display_title=title,
            actor=rng.choice(members),
            created_at=created,
            updated_at=finished if status == "completed" else started,
            run_started_at=started,
            pull_numbers=[pull.number] if pull is not None and event == "pull_request" else [],
        )
        for job_name in rng.sample(JOB_NAMES, min(cfg.jobs, len(JOB_NAMES))):
            run.jobs.append(_job(state, run, job_name, started, finished, rng))
        repo.runs[run.id] = run
        for job in run.jobs:
            repo.jobs[job.id] = job


def _job(
    state: SimState,
    run: WorkflowRun,
    name: str,
    started: datetime,
    finished: datetime,
    rng: random.Random,
) -> Job:
    done = run.status == "completed"
    conclusion = run.conclusion if done else None
    job_id = state.ids.next("job")
    job = Job(
        id=job_id,
        run_id=run.id,
        name=name,
        status="completed" if done else run.status,
        conclusion=conclusion,
        created_at=run.created_at,
        started_at=started,
        completed_at=finished if done else None,
        runner_id=rng.randint(1, 50) if run.status != "queued" else None,
        runner_name=f"GitHub Actions {rng.randint(1, 50)}" if run.status != "queued" else None,
    )
    for number, step_name in enumerate(STEP_NAMES, start=1):
        job.steps.append(
            Step(
                number=number,
                name=step_name,
                status="completed" if done else "queued",
                conclusion=conclusion,
                started_at=started if done else None,
                completed_at=finished if done else None,
            )
        )
    return job
