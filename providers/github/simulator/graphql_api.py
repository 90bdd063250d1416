"""`POST /graphql`: GitHub's GraphQL API over the simulator's state (graphql-core).

What is kept faithful (GitHub docs, "Rate limits and query limits for the GraphQL API"):

- every connection that selects `nodes` needs `first` (1..100); a query may ask for at most
  500,000 nodes; otherwise `MISSING_PAGINATION_BOUNDARIES`, `EXCESSIVE_PAGINATION` or
  `MAX_NODE_LIMIT_EXCEEDED`, before anything is executed or charged;
- a query costs the requests its connections need, divided by 100 and rounded, at least 1
  point, charged to a `graphql` budget of its own; an exhausted budget answers 200 with a
  `RATE_LIMIT` error (`x-ratelimit-remaining: 0`);
- answers are `{"data": ..., "errors": [...]}` with GitHub's error `type` at the top level
  (`NOT_FOUND` for a missing repository or node);
- `Int` fields carry ids above 2^31 as plain numbers, as GitHub serves `databaseId`s of check
  runs and workflow runs (graphql-core alone would refuse them).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    build_schema,
    execute_sync,
    get_named_type,
    parse,
    validate,
)

from providers.github.simulator.graphql_nodes import Ctx, RepositoryNode, lookup_node, not_found
from providers.github.simulator.graphql_sdl import SDL

MAX_PAGE = 100
MAX_NODES = 500_000
DOCS = "https://docs.github.com/graphql"
_DOCUMENT_CACHE = 256


def _serialize_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GraphQLError(f"Int cannot represent non-integer value: {value!r}")
    if abs(value) >= 2**53:
        raise GraphQLError(f"Int cannot represent value beyond 53 bits: {value!r}")
    return value


class _WideIntType(GraphQLScalarType):
    """GitHub's `Int` as it serializes: graphql-core reserves the name, so opt out here."""

    reserved_types = {}


_WIDE_INT = _WideIntType(
    "Int",
    serialize=_serialize_int,
    parse_value=GraphQLInt.parse_value,
    parse_literal=GraphQLInt.parse_literal,
    description=GraphQLInt.description,
)


def _widen(kind: GraphQLOutputType) -> GraphQLOutputType:
    if isinstance(kind, GraphQLNonNull):
        return GraphQLNonNull(_widen(kind.of_type))  # type: ignore[arg-type]
    if isinstance(kind, GraphQLList):
        return GraphQLList(_widen(kind.of_type))
    return _WIDE_INT if kind is GraphQLInt else kind


def build() -> GraphQLSchema:
    """The simulator's schema; output `Int`s widened (arguments keep the standard `Int`)."""
    schema = build_schema(SDL)
    for named in schema.type_map.values():
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for gql_field in named.fields.values():
                gql_field.type = _widen(gql_field.type)
    return schema


SCHEMA = build()


# ------------------------------------------------------------------------------ query limits


class LimitError(Exception):
    def __init__(self, kind: str, message: str, node: FieldNode | None, path: list[str]) -> None:
        super().__init__(message)
        self.kind, self.message, self.node, self.path = kind, message, node, path

    def body(self) -> dict[str, Any]:
        loc = self.node.loc if self.node is not None else None
        error: dict[str, Any] = {"type": self.kind}
        if self.path:
            error["path"] = self.path
        if loc is not None:
            error["locations"] = [{"line": loc.start_token.line, "column": loc.start_token.column}]
        error["message"] = self.message
        return error


@dataclass
class Analysis:
    """What a query may cost before it runs: GitHub's requests, points and node count."""

    requests: int = 0
    nodes: int = 0
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def cost(self) -> int:
        return max(1, math.floor(self.requests / 100 + 0.5))


def _int_arg(node: FieldNode, name: str, analysis: Analysis) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value != name:
            continue
        value = arg.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            var = value.name.value
            found = analysis.variables.get(var, analysis.defaults.get(var))
            return found if isinstance(found, int) else None
    return None


def _list_size(node: FieldNode, analysis: Analysis) -> int:
    """`nodes(ids: [...])` fans out to one object per id."""
    for arg in node.arguments or ():
        if arg.name.value == "ids" and isinstance(arg.value, VariableNode):
            found = analysis.variables.get(arg.value.name.value)
            return len(found) if isinstance(found, list) else 1
        if arg.name.value == "ids":
            values = getattr(arg.value, "values", ())
            return len(values)
    return 1


def _selects_items(selection: SelectionSetNode | None, analysis: Analysis) -> bool:
    for sel in selection.selections if selection else ():
        if isinstance(sel, FieldNode) and sel.name.value in ("nodes", "edges"):
            return True
        if isinstance(sel, InlineFragmentNode) and _selects_items(sel.selection_set, analysis):
            return True
        if isinstance(sel, FragmentSpreadNode):
            frag = analysis.fragments.get(sel.name.value)
            if frag is not None and _selects_items(frag.selection_set, analysis):
                return True
    return False


def _walk(
    selection: SelectionSetNode | None,
    parent: Any,
    multiplier: int,
    path: list[str],
    analysis: Analysis,
) -> None:
    for sel in selection.selections if selection else ():
        if isinstance(sel, InlineFragmentNode):
            target = SCHEMA.get_type(sel.type_condition.name.value) if sel.type_condition else None
            _walk(sel.selection_set, target or parent, multiplier, path, analysis)
            continue
        if isinstance(sel, FragmentSpreadNode):
            frag = analysis.fragments.get(sel.name.value)
            if frag is not None:
                target = SCHEMA.get_type(frag.type_condition.name.value)
                _walk(frag.selection_set, target, multiplier, path, analysis)
            continue
        assert isinstance(sel, FieldNode)
        name = sel.name.value
        fields: dict[str, GraphQLField] = getattr(parent, "fields", {})
        gql_field = fields.get(name)
        if gql_field is None or sel.selection_set is None:
            continue
        named = get_named_type(gql_field.type)
        here = [*path, sel.alias.value if sel.alias else name]
        child = multiplier
        if named.name.endswith("Connection"):
            first = _int_arg(sel, "first", analysis)
            last = _int_arg(sel, "last", analysis)
            size = first if first is not None else last
            if size is None and _selects_items(sel.selection_set, analysis):
                raise LimitError(
                    "MISSING_PAGINATION_BOUNDARIES",
                    f"You must provide a `first` or `last` value to properly paginate the "
                    f"`{name}` connection.",
                    sel,
                    here,
                )
            if size is not None and not 1 <= size <= MAX_PAGE:
                which = "first" if first is not None else "last"
                raise LimitError(
                    "EXCESSIVE_PAGINATION",
                    f"Requesting {size} records on the `{name}` connection exceeds the "
                    f"`{which}` limit of {MAX_PAGE} records.",
                    sel,
                    here,
                )
            analysis.requests += multiplier
            if size is not None:
                analysis.nodes += multiplier * size
                child = multiplier * size
        elif name == "nodes" and isinstance(parent, GraphQLObjectType) and parent.name == "Query":
            child = multiplier * _list_size(sel, analysis)
            analysis.nodes += child
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
            _walk(sel.selection_set, named, child, here, analysis)


def analyse(
    document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any]
) -> Analysis:
    analysis = Analysis(variables=variables)
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            analysis.fragments[definition.name.value] = definition
    for var in operation.variable_definitions or ():
        if isinstance(var.default_value, IntValueNode):
            analysis.defaults[var.variable.name.value] = int(var.default_value.value)
    _walk(operation.selection_set, SCHEMA.query_type, 1, [], analysis)
    if analysis.nodes > MAX_NODES:
        raise LimitError(
            "MAX_NODE_LIMIT_EXCEEDED",
            f"This query requests up to {analysis.nodes:,} possible nodes which exceeds the "
            f"maximum limit of {MAX_NODES:,}.",
            None,  # GitHub names no location for the whole-query limit
            [],
        )
    return analysis


# ----------------------------------------------------------------------------------- answers


@dataclass
class Prepared:
    """A request that passed parsing, validation and the query limits: ready to charge and run."""

    document: DocumentNode
    operation: OperationDefinitionNode
    operation_name: str | None
    variables: dict[str, Any]
    analysis: Analysis


@dataclass
class Refused:
    """An answer given before execution (bad request, invalid query, limits): never charged."""

    status: int
    body: dict[str, Any]
    operation_name: str | None = None
    error_types: list[str] = field(default_factory=list)


_documents: OrderedDict[str, DocumentNode | list[dict[str, Any]]] = OrderedDict()


def _document(query: str) -> DocumentNode | list[dict[str, Any]]:
    """Parsed and validated once per query text (clients send the same few documents)."""
    found = _documents.get(query)
    if found is not None:
        _documents.move_to_end(query)
        return found
    document: DocumentNode | list[dict[str, Any]]
    try:
        parsed = parse(query)
    except GraphQLError as error:
        document = [_error(error)]
    else:
        errors = validate(SCHEMA, parsed)
        document = [_error(e) for e in errors] if errors else parsed
    _documents[query] = document
    if len(_documents) > _DOCUMENT_CACHE:
        _documents.popitem(last=False)
    return document


def prepare(raw: bytes) -> Prepared | Refused:
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Refused(400, {"message": "Problems parsing JSON", "documentation_url": DOCS})
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        message = "A query attribute must be specified and must be a string."
        return Refused(200, {"errors": [{"message": message}]})
    variables = body.get("variables") or {}
    name = body.get("operationName")
    if not isinstance(variables, dict) or (name is not None and not isinstance(name, str)):
        return Refused(400, {"message": "Problems parsing JSON", "documentation_url": DOCS})
    document = _document(query)
    if isinstance(document, list):
        return Refused(200, {"errors": document}, name)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
    if len(chosen) != 1:
        message = (
            f'Unknown operation named "{name}".'
            if name
            else "An operation name is required when sending multiple operations."
        )
        return Refused(200, {"errors": [{"message": message}]}, name)
    operation = chosen[0]
    op_name = operation.name.value if operation.name else name
    if operation.operation.value != "query":
        message = f"Schema is not configured to execute {operation.operation.value} operation."
        return Refused(200, {"errors": [{"message": message}]}, op_name)
    try:
        analysis = analyse(document, operation, variables)
    except LimitError as error:
        return Refused(200, {"errors": [error.body()]}, op_name, [error.kind])
    return Prepared(document, operation, op_name, variables, analysis)


@dataclass
class Budget:
    """The caller's graphql budget after charging, for `rateLimit` and the headers."""

    limit: int
    remaining: int
    used: int
    reset_iso: str


class Root:
    def __init__(self, ctx: Ctx, analysis: Analysis, budget: Budget) -> None:
        self._ctx, self._analysis, self._budget = ctx, analysis, budget

    def repository(self, info: Any, owner: str, name: str, followRenames: bool = True) -> Any:
        state = self._ctx.state
        repo = state.repos.get(f"{owner}/{name}".lower())
        if repo is None and followRenames:
            # GitHub resolves a renamed or transferred repository's former name by default.
            moved = state.moved.get(f"{owner}/{name}".lower())
            repo = state.repos_by_id.get(moved) if moved is not None else None
        if repo is None or not self._ctx.visible(repo):
            raise not_found(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return RepositoryNode(self._ctx, repo)

    def node(self, info: Any, id: str) -> Any:
        found = lookup_node(self._ctx, id)
        if isinstance(found, GraphQLError):
            raise found
        return found

    def nodes(self, info: Any, ids: list[str]) -> list[Any]:
        # A missing id is a null in the list plus a NOT_FOUND error at its index.
        return [lookup_node(self._ctx, value) for value in ids]

    def rateLimit(self, info: Any, dryRun: bool = False) -> dict[str, Any]:
        b = self._budget
        return {
            "cost": self._analysis.cost,
            "limit": b.limit,
            "nodeCount": self._analysis.nodes,
            "remaining": b.remaining,
            "resetAt": b.reset_iso,
            "used": b.used,
        }


def run(prepared: Prepared, ctx: Ctx, budget: Budget) -> tuple[dict[str, Any], list[str]]:
    """Execute; the answer body in GitHub's shape and the error types it carries."""
    result = execute_sync(
        SCHEMA,
        prepared.document,
        root_value=Root(ctx, prepared.analysis, budget),
        variable_values=prepared.variables,
        operation_name=prepared.operation_name,
    )
    body: dict[str, Any] = {}
    types: list[str] = []
    if result.errors:
        body["errors"] = [_error(e) for e in result.errors]
        types = [e["type"] for e in body["errors"] if "type" in e]
    body["data"] = result.data
    return body, types


def _error(error: GraphQLError) -> dict[str, Any]:
    """GitHub's error shape: `type` at the top level, then path, locations and message."""
    out: dict[str, Any] = {}
    extensions = dict(error.extensions or {})
    kind = extensions.pop("type", None)
    if kind is not None:
        out["type"] = kind
    if error.path is not None:
        out["path"] = list(error.path)
    if extensions:
        out["extensions"] = extensions
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["message"] = error.message
    return out


def rate_limited(who: str) -> dict[str, Any]:
    """The answer (HTTP 200) once the graphql budget is spent."""
    return {
        "errors": [
            {
                "type": "RATE_LIMIT",
                "code": "graphql_rate_limit",
                "message": f"API rate limit already exceeded for {who}.",
            }
        ]
    }
