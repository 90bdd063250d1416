"""The part of GitHub's public GraphQL schema the simulator serves.

A faithful subset: every type, field, argument and enum value here exists in GitHub's published
schema (`@octokit/graphql-schema`) with the same type, which tests/test_github_graphql_schema.py
checks. Only what the simulator can answer from its state is declared, so a query for anything
else fails validation here as it would never silently return nulls.
"""

from __future__ import annotations

SDL = '''
"""An ISO-8601 encoded UTC date string."""
scalar DateTime

"""An RFC 3986, RFC 3987, and RFC 6570 (level 4) compliant URI string."""
scalar URI

"""A Git object ID."""
scalar GitObjectID

"""A signed whole number that may exceed 32 bits, encoded as a string."""
scalar BigInt

type Query {
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  rateLimit(dryRun: Boolean = false): RateLimit
  repository(followRenames: Boolean = true, name: String!, owner: String!): Repository
}

type RateLimit {
  cost: Int!
  limit: Int!
  nodeCount: Int!
  remaining: Int!
  resetAt: DateTime!
  used: Int!
}

interface Node {
  id: ID!
}

interface Actor {
  login: String!
  url: URI!
}

interface RepositoryOwner {
  id: ID!
  login: String!
  url: URI!
}

type User implements Actor & Node & RepositoryOwner {
  databaseId: Int
  id: ID!
  login: String!
  url: URI!
}

type Organization implements Actor & Node & RepositoryOwner {
  databaseId: Int
  id: ID!
  login: String!
  url: URI!
}

type Bot implements Actor & Node {
  databaseId: Int
  id: ID!
  login: String!
  url: URI!
}

type Mannequin implements Actor & Node {
  databaseId: Int
  id: ID!
  login: String!
  url: URI!
}

type Team implements Node {
  databaseId: Int
  id: ID!
  name: String!
  slug: String!
}

type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}

enum OrderDirection {
  ASC
  DESC
}

enum IssueOrderField {
  COMMENTS
  CREATED_AT
  UPDATED_AT
}

input IssueOrder {
  direction: OrderDirection!
  field: IssueOrderField!
}

input IssueFilters {
  since: DateTime
  states: [IssueState!]
}

enum IssueState {
  CLOSED
  OPEN
}

enum IssueStateReason {
  COMPLETED
  DUPLICATE
  NOT_PLANNED
  REOPENED
}

enum PullRequestState {
  CLOSED
  MERGED
  OPEN
}

enum PullRequestReviewState {
  APPROVED
  CHANGES_REQUESTED
  COMMENTED
  DISMISSED
  PENDING
}

enum PullRequestMergeMethod {
  MERGE
  REBASE
  SQUASH
}

enum LockReason {
  OFF_TOPIC
  RESOLVED
  SPAM
  TOO_HEATED
}

enum CommentAuthorAssociation {
  COLLABORATOR
  CONTRIBUTOR
  FIRST_TIMER
  FIRST_TIME_CONTRIBUTOR
  MANNEQUIN
  MEMBER
  NONE
  OWNER
}

enum MilestoneState {
  CLOSED
  OPEN
}

enum ReactionContent {
  CONFUSED
  EYES
  HEART
  HOORAY
  LAUGH
  ROCKET
  THUMBS_DOWN
  THUMBS_UP
}

enum CheckStatusState {
  COMPLETED
  IN_PROGRESS
  PENDING
  QUEUED
  REQUESTED
  WAITING
}

enum CheckConclusionState {
  ACTION_REQUIRED
  CANCELLED
  FAILURE
  NEUTRAL
  SKIPPED
  STALE
  STARTUP_FAILURE
  SUCCESS
  TIMED_OUT
}

enum CheckRunType {
  ALL
  LATEST
}

input CheckRunFilter {
  checkName: String
  checkType: CheckRunType
}

type Repository implements Node {
  createdAt: DateTime!
  databaseId: Int
  id: ID!
  isPrivate: Boolean!
  issues(
    after: String
    filterBy: IssueFilters
    first: Int
    labels: [String!]
    orderBy: IssueOrder
    states: [IssueState!]
  ): IssueConnection!
  name: String!
  nameWithOwner: String!
  owner: RepositoryOwner!
  pullRequests(
    after: String
    baseRefName: String
    first: Int
    headRefName: String
    labels: [String!]
    orderBy: IssueOrder
    states: [PullRequestState!]
  ): PullRequestConnection!
  updatedAt: DateTime!
  url: URI!
}

type Label implements Node {
  color: String!
  description: String
  id: ID!
  isDefault: Boolean!
  name: String!
  url: URI!
}

type LabelConnection {
  nodes: [Label]
  pageInfo: PageInfo!
  totalCount: Int!
}

type UserConnection {
  nodes: [User]
  pageInfo: PageInfo!
  totalCount: Int!
}

type IssueCommentConnection {
  totalCount: Int!
}

type ReactorConnection {
  totalCount: Int!
}

type ReactionGroup {
  content: ReactionContent!
  reactors(after: String, first: Int): ReactorConnection!
}

type Milestone implements Node {
  closed: Boolean!
  closedAt: DateTime
  createdAt: DateTime!
  creator: Actor
  description: String
  dueOn: DateTime
  id: ID!
  number: Int!
  state: MilestoneState!
  title: String!
  updatedAt: DateTime!
  url: URI!
}

type Issue implements Node {
  activeLockReason: LockReason
  assignees(after: String, first: Int): UserConnection!
  author: Actor
  authorAssociation: CommentAuthorAssociation!
  body: String!
  closed: Boolean!
  closedAt: DateTime
  comments(after: String, first: Int): IssueCommentConnection!
  createdAt: DateTime!
  databaseId: Int
  fullDatabaseId: BigInt
  id: ID!
  labels(after: String, first: Int): LabelConnection
  locked: Boolean!
  milestone: Milestone
  number: Int!
  reactionGroups: [ReactionGroup!]
  repository: Repository!
  state: IssueState!
  stateReason(enableDuplicate: Boolean = false): IssueStateReason
  title: String!
  updatedAt: DateTime!
  url: URI!
}

type IssueConnection {
  nodes: [Issue]
  pageInfo: PageInfo!
  totalCount: Int!
}

type Commit implements Node {
  id: ID!
  oid: GitObjectID!
}

type AutoMergeRequest {
  commitBody: String
  commitHeadline: String
  enabledAt: DateTime
  enabledBy: Actor
  mergeMethod: PullRequestMergeMethod!
}

union RequestedReviewer = Bot | Mannequin | Team | User

type ReviewRequest implements Node {
  asCodeOwner: Boolean!
  id: ID!
  requestedReviewer: RequestedReviewer
}

type ReviewRequestConnection {
  nodes: [ReviewRequest]
  pageInfo: PageInfo!
  totalCount: Int!
}

type PullRequestReview implements Node {
  author: Actor
  authorAssociation: CommentAuthorAssociation!
  body: String!
  commit: Commit
  createdAt: DateTime!
  fullDatabaseId: BigInt
  id: ID!
  pullRequest: PullRequest!
  state: PullRequestReviewState!
  submittedAt: DateTime
  updatedAt: DateTime!
  url: URI!
}

type PullRequestReviewConnection {
  nodes: [PullRequestReview]
  pageInfo: PageInfo!
  totalCount: Int!
}

type PullRequest implements Node {
  activeLockReason: LockReason
  assignees(after: String, first: Int): UserConnection!
  author: Actor
  authorAssociation: CommentAuthorAssociation!
  autoMergeRequest: AutoMergeRequest
  baseRefName: String!
  baseRefOid: GitObjectID!
  body: String!
  closed: Boolean!
  closedAt: DateTime
  createdAt: DateTime!
  fullDatabaseId: BigInt
  headRefName: String!
  headRefOid: GitObjectID!
  headRepository: Repository
  id: ID!
  isDraft: Boolean!
  labels(after: String, first: Int): LabelConnection
  locked: Boolean!
  maintainerCanModify: Boolean!
  mergeCommit: Commit
  merged: Boolean!
  mergedAt: DateTime
  mergedBy: Actor
  milestone: Milestone
  number: Int!
  repository: Repository!
  reviewRequests(after: String, first: Int): ReviewRequestConnection
  reviews(after: String, first: Int, states: [PullRequestReviewState!]): PullRequestReviewConnection
  state: PullRequestState!
  title: String!
  updatedAt: DateTime!
  url: URI!
}

type PullRequestConnection {
  nodes: [PullRequest]
  pageInfo: PageInfo!
  totalCount: Int!
}

type Workflow implements Node {
  databaseId: Int
  id: ID!
  name: String!
}

type WorkflowRun implements Node {
  checkSuite: CheckSuite!
  createdAt: DateTime!
  databaseId: Int
  event: String!
  id: ID!
  runNumber: Int!
  updatedAt: DateTime!
  url: URI!
  workflow: Workflow!
}

type CheckSuite implements Node {
  checkRuns(after: String, filterBy: CheckRunFilter, first: Int): CheckRunConnection
  commit: Commit!
  conclusion: CheckConclusionState
  databaseId: Int
  id: ID!
  status: CheckStatusState!
  workflowRun: WorkflowRun
}

type CheckRun implements Node {
  checkSuite: CheckSuite!
  completedAt: DateTime
  conclusion: CheckConclusionState
  databaseId: Int
  detailsUrl: URI
  id: ID!
  name: String!
  startedAt: DateTime
  status: CheckStatusState!
  steps(after: String, first: Int): CheckStepConnection
  url: URI!
}

type CheckRunConnection {
  nodes: [CheckRun]
  pageInfo: PageInfo!
  totalCount: Int!
}

type CheckStep {
  completedAt: DateTime
  conclusion: CheckConclusionState
  name: String!
  number: Int!
  secondsToCompletion: Int
  startedAt: DateTime
}

type CheckStepConnection {
  nodes: [CheckStep]
  pageInfo: PageInfo!
  totalCount: Int!
}
'''
