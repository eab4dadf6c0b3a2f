"""What an operation asks for, read from its document and variables before it runs.

Two things are checked here, so that nothing is coerced, loaded or sent first: every list
an argument holds (variables and literals, input objects included) against its limit, and
the objects and metric points the whole operation would read, aliases included, against
the request's budget. Points whose number only the data knows (`points` without `limit`)
are counted again when read (`Context.read_points`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)
from graphql.language import FragmentDefinitionNode

from modelbox.server.config import Settings
from modelbox.server.errors import BadUserInput, PayloadTooLarge

# Lists with a limit of their own (by input type, or `Type.field`): a logMetrics' columns
# and a logEvents' batch; every other list argument has max_list_length.
LIST_LIMITS = {
    "MetricSeriesInput": "max_metric_points_per_request",
    "LogEventsInput.events": "max_events_per_request",
}
# What a request carrying too much of these is: too large, as when its body is.
PAYLOAD_LIMITS = frozenset({"max_metric_points_per_request"})
# List arguments whose repeated values are answered once (the same key is one series).
DEDUPLICATED = frozenset({"keys"})
# Objects that are read, besides every Node: one summary record per series.
READ_TYPES = frozenset({"MetricSeries"})
# Fields whose answer is a number of metric points set by an argument.
POINT_ARGUMENTS = {"points": "limit", "downsampled": "maxPoints"}


@dataclass
class Cost:
    objects: int = 0
    points: int = 0

    def add(self, other: Cost, times: int) -> None:
        self.objects += other.objects * times
        self.points += other.points * times


class Inspector:
    """Walks one operation; `check` raises BadUserInput naming the limit at fault."""

    def __init__(
        self,
        schema: GraphQLSchema,
        settings: Settings,
        variables: dict[str, Any] | None,
        fragments: dict[str, FragmentDefinitionNode],
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.variables = variables or {}
        self.fragments = fragments
        self._fragment_costs: dict[str, Cost] = {}

    def check(self, root: GraphQLObjectType, selections: SelectionSetNode) -> Cost:
        cost = self.walk(root, selections)
        limits = (
            ("objects", cost.objects, self.settings.max_objects_per_request, "max_objects"),
            ("metric points", cost.points, self.settings.max_points_per_request, "max_points"),
        )
        for what, estimate, limit, setting in limits:
            if estimate > limit:
                raise BadUserInput(
                    f"this request could read {estimate} {what} across its fields and aliases,"
                    f" over the limit of {limit} per request ({setting}_per_request): ask"
                    " smaller pages, fewer ids or fewer aliases",
                    limit=limit,
                )
        return cost

    def walk(self, parent: GraphQLNamedType, selections: SelectionSetNode) -> Cost:
        """The cost of `selections` on one object of type `parent`."""
        cost = Cost()
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                cost.add(*self.field(parent, selection))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                cost.add(self.walk(target or parent, selection.selection_set), 1)
            elif isinstance(selection, FragmentSpreadNode):
                cost.add(self.fragment(selection.name.value), 1)
        return cost

    def fragment(self, name: str) -> Cost:
        # Computed once per fragment: spreading one fragment many times costs no more walking.
        if name not in self._fragment_costs:
            definition = self.fragments[name]
            target = self.schema.get_type(definition.type_condition.name.value)
            assert target is not None, "validation found the fragment's type"
            self._fragment_costs[name] = self.walk(target, definition.selection_set)
        return self._fragment_costs[name]

    def field(self, parent: GraphQLNamedType, node: FieldNode) -> tuple[Cost, int]:
        """The cost of one field of one `parent`, and how many times it is paid."""
        name = node.name.value
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(name)
        if definition is None:  # __typename and introspection: nothing is read
            return Cost(), 1
        arguments: dict[str, Any] = {}
        for argument in node.arguments or ():
            value = value_from_ast_untyped(argument.value, self.variables)
            arg = definition.args.get(argument.name.value)
            if arg is not None:
                self.check_lists(argument.name.value, arg.type, value, None)
            arguments[argument.name.value] = value
        target = get_named_type(definition.type)
        times = self.fanout(target, definition.type, arguments)
        own = Cost(objects=1 if self.is_read(target) else 0)
        if name in POINT_ARGUMENTS and isinstance(arguments.get(POINT_ARGUMENTS[name]), int):
            own.points = arguments[POINT_ARGUMENTS[name]]
        if node.selection_set is not None:
            own.add(self.walk(target, node.selection_set), self.page(target, arguments))
        return own, times

    def fanout(self, target: GraphQLNamedType, output: Any, arguments: dict[str, Any]) -> int:
        """How many values a field gives per parent: a list argument's length, else one."""
        if not _is_list(output):
            return 1
        for name, value in arguments.items():
            if isinstance(value, list):
                return len(set(map(str, value))) if name in DEDUPLICATED else len(value)
        return 1

    def page(self, target: GraphQLNamedType, arguments: dict[str, Any]) -> int:
        """A connection's objects come `first` (or the default page size) at a time."""
        if not target.name.endswith("Connection"):
            return 1
        first = arguments.get("first")
        return first if isinstance(first, int) and first >= 0 else self.settings.default_page_size

    def is_read(self, target: GraphQLNamedType) -> bool:
        if target.name in READ_TYPES:
            return True
        node = self.schema.get_type("Node")
        if isinstance(target, GraphQLObjectType):
            return node in target.interfaces
        if isinstance(target, GraphQLUnionType):
            return any(node in member.interfaces for member in target.types)
        return isinstance(target, GraphQLInterfaceType) and target is node

    def check_lists(self, name: str, kind: GraphQLInputType, value: Any, owner: str | None) -> None:
        """Refuse a list longer than its limit, before anything walks or coerces its items."""
        if value is None:
            return
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if isinstance(kind, GraphQLList):
            items = value if isinstance(value, list) else [value]
            setting = LIST_LIMITS.get(f"{owner}.{name}") or LIST_LIMITS.get(owner or "")
            setting = setting or "max_list_length"
            limit: int = getattr(self.settings, setting)
            if len(items) > limit:
                error = PayloadTooLarge if setting in PAYLOAD_LIMITS else BadUserInput
                raise error(
                    f"{name}: {len(items)} items, over the limit of {limit} ({setting})",
                    field=name,
                    limit=limit,
                )
            if isinstance(get_named_type(kind), GraphQLInputObjectType):
                for item in items:
                    self.check_lists(name, kind.of_type, item, owner)
        elif isinstance(kind, GraphQLInputObjectType) and isinstance(value, dict):
            for field_name, input_field in kind.fields.items():
                if field_name in value:
                    self.check_lists(field_name, input_field.type, value[field_name], kind.name)


def _is_list(output: Any) -> bool:
    if isinstance(output, GraphQLNonNull):
        output = output.of_type
    return isinstance(output, GraphQLList)
