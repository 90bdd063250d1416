"""The GraphQL documents the adapter sends. tests/test_github_graphql_schema.py validates every
one of `DOCUMENTS` against GitHub's published schema.

Page sizes keep each query well inside GitHub's limits (at most 100 per connection, 500,000
nodes per query): 100 issues or pull requests with up to 100 labels, assignees, review
requests and reviews each; 100 workflow runs with up to 50 check runs of up to 50 steps.
"""

from __future__ import annotations

PAGE = 100
NESTED = 100  # labels, assignees, review requests, reviews of one issue or pull request
RUNS_PER_QUERY = 100
CHECK_RUNS = 50
STEPS = 50
SIZES = {"PAGE": PAGE, "NESTED": NESTED, "CHECK_RUNS": CHECK_RUNS, "STEPS": STEPS}


def _document(*parts: str) -> str:
    """Join a query and its fragments, page sizes filled in (`first: NESTED`...)."""
    text = "".join(parts)
    for name, size in SIZES.items():
        text = text.replace(f"first: {name})", f"first: {size})")
        text = text.replace(f"first: {name},", f"first: {size},")
        text = text.replace(f"first: {name}\n", f"first: {size}\n")
    return text


_ACTOR = """
fragment ActorFields on Actor {
  __typename
  login
  ... on User { id databaseId }
  ... on Bot { id databaseId }
  ... on Organization { id databaseId }
  ... on Mannequin { id databaseId }
}
"""

# The fields issues and pull requests share (spread into both fragments below).
_ISSUE_LIKE = """
  id
  fullDatabaseId
  number
  title
  body
  url
  createdAt
  updatedAt
  closedAt
  locked
  activeLockReason
  authorAssociation
  author { ...ActorFields }
  labels(first: NESTED) { totalCount nodes { name } }
  assignees(first: NESTED) { totalCount nodes { ...ActorFields } }
  milestone { id number title state }
"""

_ISSUE = (
    "\nfragment IssueFields on Issue {"
    + _ISSUE_LIKE
    + """  state
  stateReason
  comments { totalCount }
  reactionGroups { content reactors { totalCount } }
}
"""
)

_REVIEW = """
fragment ReviewFields on PullRequestReview {
  id
  fullDatabaseId
  body
  state
  submittedAt
  url
  authorAssociation
  author { ...ActorFields }
  commit { oid }
}
"""

_PULL = (
    "\nfragment PullRequestFields on PullRequest {"
    + _ISSUE_LIKE
    + """  state
  isDraft
  mergedAt
  headRefName
  headRefOid
  headRepository { nameWithOwner }
  baseRefName
  baseRefOid
  mergeCommit { oid }
  autoMergeRequest {
    mergeMethod
    commitHeadline
    commitBody
    enabledBy { ...ActorFields }
  }
  reviewRequests(first: NESTED) {
    totalCount
    nodes {
      requestedReviewer {
        __typename
        ... on User { login }
        ... on Bot { login }
        ... on Mannequin { login }
        ... on Team { slug }
      }
    }
  }
  reviews(first: NESTED) {
    pageInfo { hasNextPage endCursor }
    nodes { ...ReviewFields }
  }
}
"""
)

ISSUES = _document(
    """
query KrateIssues($owner: String!, $name: String!, $since: DateTime, $after: String) {
  repository(owner: $owner, name: $name) {
    issues(
      first: PAGE
      after: $after
      orderBy: {field: UPDATED_AT, direction: ASC}
      filterBy: {since: $since}
    ) {
      pageInfo { hasNextPage endCursor }
      nodes { ...IssueFields }
    }
  }
}
""",
    _ISSUE,
    _ACTOR,
)

PULL_REQUESTS = _document(
    """
query KratePullRequests($owner: String!, $name: String!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequests(first: PAGE, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) {
      pageInfo { hasNextPage endCursor }
      nodes { ...PullRequestFields }
    }
  }
}
""",
    _PULL,
    _REVIEW,
    _ACTOR,
)

MORE_REVIEWS = _document(
    """
query KrateMoreReviews($id: ID!, $after: String) {
  node(id: $id) {
    ... on PullRequest {
      reviews(first: NESTED, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { ...ReviewFields }
      }
    }
  }
}
""",
    _REVIEW,
    _ACTOR,
)

_CHECK_RUN = """
fragment CheckRunFields on CheckRun {
  id
  databaseId
  name
  status
  conclusion
  startedAt
  completedAt
  detailsUrl
  steps(first: STEPS) {
    pageInfo { hasNextPage endCursor }
    nodes { name number conclusion startedAt completedAt }
  }
}
"""

RUN_JOBS = _document(
    """
query KrateRunJobs($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on WorkflowRun {
      id
      checkSuite {
        checkRuns(first: CHECK_RUNS, filterBy: {checkType: LATEST}) {
          pageInfo { hasNextPage endCursor }
          nodes { ...CheckRunFields }
        }
      }
    }
  }
}
""",
    _CHECK_RUN,
)

MORE_JOBS = _document(
    """
query KrateMoreJobs($id: ID!, $after: String) {
  node(id: $id) {
    ... on WorkflowRun {
      checkSuite {
        checkRuns(first: CHECK_RUNS, after: $after, filterBy: {checkType: LATEST}) {
          pageInfo { hasNextPage endCursor }
          nodes { ...CheckRunFields }
        }
      }
    }
  }
}
""",
    _CHECK_RUN,
)

MORE_STEPS = _document(
    """
query KrateMoreSteps($id: ID!, $after: String) {
  node(id: $id) {
    ... on CheckRun {
      steps(first: PAGE, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { name number conclusion startedAt completedAt }
      }
    }
  }
}
"""
)

DOCUMENTS: dict[str, str] = {
    "KrateIssues": ISSUES,
    "KratePullRequests": PULL_REQUESTS,
    "KrateMoreReviews": MORE_REVIEWS,
    "KrateRunJobs": RUN_JOBS,
    "KrateMoreJobs": MORE_JOBS,
    "KrateMoreSteps": MORE_STEPS,
}
