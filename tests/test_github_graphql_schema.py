"""The GraphQL schema the simulator serves and the queries the adapter sends, against GitHub's
published schema (`@octokit/graphql-schema`, installed into tests/npm by scripts/bootstrap).

(a) every type, field, argument, enum value, interface and union member of the simulator's SDL
exists in GitHub's schema with the same type (and default), and every required argument of a
GitHub field the simulator declares is declared too; (b) every document of
`providers.github.graphql_queries.DOCUMENTS` validates against GitHub's schema, and against the
simulator's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    parse,
    validate,
)
from graphql.type import introspection_types, specified_scalar_types

from providers.github.graphql_queries import DOCUMENTS
from providers.github.simulator import graphql_api
from providers.github.simulator.graphql_sdl import SDL
from tests.test_github_simulator_support import NPM

GITHUB_SCHEMA = NPM / "graphql-schema" / "schema.graphql"


@cache
def github_schema() -> GraphQLSchema:
    assert GITHUB_SCHEMA.exists(), (
        f"{GITHUB_SCHEMA} is missing: run `npm ci --prefix tests/npm` (scripts/bootstrap does) "
        "to install GitHub's published GraphQL schema"
    )
    # Taken as published: GitHub's SDL declares two fields of EnterpriseOwnerInfo twice and
    # deprecates some interface fields only on their implementations, which graphql-core's
    # own schema checks refuse; neither touches the types compared or validated here.
    return build_schema(GITHUB_SCHEMA.read_text(), assume_valid=True, assume_valid_sdl=True)


def _named_types(schema: GraphQLSchema) -> dict[str, Any]:
    skip = set(introspection_types) | set(specified_scalar_types)
    return {name: t for name, t in schema.type_map.items() if name not in skip}


def _default(arg: Any) -> Any:
    return getattr(arg, "default_value", None)


def _differences(sdl: str = SDL) -> list[str]:
    theirs = github_schema()
    problems: list[str] = []
    for name, ours in _named_types(build_schema(sdl)).items():
        found = theirs.get_type(name)
        if found is None:
            problems.append(f"type {name} is not in GitHub's schema")
            continue
        if type(found) is not type(ours):
            problems.append(f"{name} is a {type(found).__name__} on GitHub")
            continue
        if isinstance(ours, GraphQLObjectType | GraphQLInterfaceType):
            assert isinstance(found, GraphQLObjectType | GraphQLInterfaceType)
            extra = {i.name for i in ours.interfaces} - {i.name for i in found.interfaces}
            if extra:
                problems.append(f"{name} implements {sorted(extra)}, not on GitHub")
            for field_name, field in ours.fields.items():
                their_field = found.fields.get(field_name)
                if their_field is None:
                    problems.append(f"{name}.{field_name} is not on GitHub")
                    continue
                if str(field.type) != str(their_field.type):
                    problems.append(
                        f"{name}.{field_name}: {field.type} here, {their_field.type} on GitHub"
                    )
                for arg_name, arg in field.args.items():
                    their_arg = their_field.args.get(arg_name)
                    if their_arg is None:
                        problems.append(f"{name}.{field_name}({arg_name}) is not on GitHub")
                    elif str(arg.type) != str(their_arg.type):
                        problems.append(
                            f"{name}.{field_name}({arg_name}): {arg.type} here, "
                            f"{their_arg.type} on GitHub"
                        )
                    elif _default(arg) != _default(their_arg):
                        problems.append(
                            f"{name}.{field_name}({arg_name}) defaults to {_default(arg)!r} "
                            f"here, {_default(their_arg)!r} on GitHub"
                        )
                for arg_name, their_arg in their_field.args.items():
                    required = str(their_arg.type).endswith("!") and _default(their_arg) is None
                    if required and arg_name not in field.args:
                        problems.append(f"{name}.{field_name} lacks required ({arg_name})")
        elif isinstance(ours, GraphQLUnionType):
            assert isinstance(found, GraphQLUnionType)
            extra = {t.name for t in ours.types} - {t.name for t in found.types}
            if extra:
                problems.append(f"union {name} has {sorted(extra)}, not on GitHub")
        elif isinstance(ours, GraphQLEnumType):
            assert isinstance(found, GraphQLEnumType)
            extra = set(ours.values) - set(found.values)
            if extra:
                problems.append(f"enum {name} has {sorted(extra)}, not on GitHub")
        elif isinstance(ours, GraphQLInputObjectType):
            assert isinstance(found, GraphQLInputObjectType)
            for field_name, field in ours.fields.items():
                their_input = found.fields.get(field_name)
                if their_input is None:
                    problems.append(f"input {name}.{field_name} is not on GitHub")
                elif str(field.type) != str(their_input.type):
                    problems.append(
                        f"input {name}.{field_name}: {field.type} here, {their_input.type} there"
                    )
        else:
            assert isinstance(ours, GraphQLScalarType)
    return problems


def test_the_simulator_schema_is_a_subset_of_githubs() -> None:
    assert _differences() == []


def test_the_comparison_catches_what_github_lacks() -> None:
    """The check above can fail: a wrong type, a made-up field or enum value are reported."""
    changed = (
        SDL.replace("  number: Int!\n  reactionGroups", "  number: String!\n  reactionGroups")
        .replace("  isPrivate: Boolean!", "  isPrivate: Boolean!\n  isSecret: Boolean!")
        .replace("  LATEST\n", "  LATEST\n  NEWEST\n")
    )
    assert changed.count("String!") > SDL.count("String!")
    assert sorted(_differences(changed)) == [
        "Issue.number: String! here, Int! on GitHub",
        "Repository.isSecret is not on GitHub",
        "enum CheckRunType has ['NEWEST'], not on GitHub",
    ]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_adapter_query_validates_against_githubs_schema(name: str) -> None:
    document = parse(DOCUMENTS[name])
    assert [e.message for e in validate(github_schema(), document)] == []
    # ... and against the simulator's, which must answer it.
    assert [e.message for e in validate(graphql_api.SCHEMA, document)] == []


def test_a_query_github_would_refuse_fails_validation() -> None:
    """The validation above can fail: a made-up field is refused."""
    document = parse("query { viewer { loginName } }")
    assert validate(github_schema(), document)
