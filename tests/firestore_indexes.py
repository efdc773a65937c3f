"""Whether the indexes declared in infra/firestore.indexes.json serve a Firestore query.

The emulator serves any query; production Firestore refuses one that needs a composite
index that does not exist (FAILED_PRECONDITION). The rules, from Google's "Index types
in Cloud Firestore" and "Manage indexes" pages:

- Firestore keeps two single-field indexes (ascending, descending) for every field of a
  collection's documents, unless a field override exempts the field.
- Single-field indexes serve: equality filters alone, on any number of fields (Firestore
  merges the indexes); a range or ordering on one field, in either direction; and either
  of those with the document name as the last ordering.
- Anything else — equality filters with a range or ordering on another field, or
  ordering by several fields — needs a composite index: the equality fields (in any
  order) followed by the range and ordering fields in the query's order, each in the
  query's direction; the document name is implied last, in the last field's direction.
- Index merging: the equality fields may be spread over several composite indexes that
  end in the same ordered fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.cloud.firestore_v1.types import StructuredQuery

NAME = "__name__"
ASC, DESC = "ASCENDING", "DESCENDING"
# An IN is a disjunction of equalities, and needs the indexes an equality does.
EQUALITY = {StructuredQuery.FieldFilter.Operator.EQUAL, StructuredQuery.FieldFilter.Operator.IN}
RANGE = {
    StructuredQuery.FieldFilter.Operator.LESS_THAN,
    StructuredQuery.FieldFilter.Operator.LESS_THAN_OR_EQUAL,
    StructuredQuery.FieldFilter.Operator.GREATER_THAN,
    StructuredQuery.FieldFilter.Operator.GREATER_THAN_OR_EQUAL,
    StructuredQuery.FieldFilter.Operator.NOT_EQUAL,
}

Order = tuple[str, str]


@dataclass(frozen=True)
class Shape:
    """What of a query decides its index: its collection, filters and orderings."""

    collection: str
    scope: str
    equalities: frozenset[str]
    ranges: frozenset[str]
    orders: tuple[Order, ...]

    @classmethod
    def of(cls, query: StructuredQuery) -> Shape:
        [source] = query.from_
        scope = "COLLECTION_GROUP" if source.all_descendants else "COLLECTION"
        equalities: set[str] = set()
        ranges: set[str] = set()
        for flt in _field_filters(query.where):
            name = flt.field.field_path
            if flt.op in EQUALITY:
                equalities.add(name)
            elif flt.op in RANGE:
                ranges.add(name)
            else:
                raise ValueError(f"no rule here for operator {flt.op.name} on {name!r}")
        orders = tuple(
            (
                o.field.field_path,
                ASC if o.direction == StructuredQuery.Direction.ASCENDING else DESC,
            )
            for o in query.order_by
        )
        return cls(source.collection_id, scope, frozenset(equalities), frozenset(ranges), orders)

    def sort(self) -> tuple[Order, ...]:
        """The ordered fields an index must end with: the orderings (the document name
        dropped when it follows in the same direction, as an index implies it), and any
        range field not already ordered on."""
        orders = list(self.orders)
        if orders and orders[-1][0] == NAME:
            last_direction = orders[-2][1] if len(orders) > 1 else ASC
            if orders[-1][1] == last_direction:
                orders.pop()
        ordered = {f for f, _ in orders}
        orders += [(f, ASC) for f in sorted(self.ranges) if f not in ordered]
        return tuple(orders)

    def __str__(self) -> str:
        where = sorted(f"{f} ==" for f in self.equalities) + sorted(f"{f} <>" for f in self.ranges)
        by = [f"{f} {d[:4]}" for f, d in self.orders]
        return f"{self.collection} ({self.scope}) where {where} order by {by}"


def _field_filters(where: StructuredQuery.Filter) -> list[Any]:
    if where.composite_filter.filters:
        return [f for sub in where.composite_filter.filters for f in _field_filters(sub)]
    if where.field_filter.field.field_path:
        return [where.field_filter]
    return []


@dataclass
class Declared:
    """The composite indexes and single-field exemptions of a firestore.indexes.json."""

    composites: dict[tuple[str, str], list[tuple[Order, ...]]] = field(default_factory=dict)
    exempt: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path) -> Declared:
        data = json.loads(path.read_text())
        declared = cls()
        for index in data.get("indexes", []):
            key = (index["collectionGroup"], index.get("queryScope", "COLLECTION"))
            fields = tuple((f["fieldPath"], f["order"]) for f in index["fields"])
            declared.composites.setdefault(key, []).append(fields)
        for override in data.get("fieldOverrides", []):
            if override.get("indexes") == []:
                declared.exempt.add((override["collectionGroup"], override["fieldPath"]))
        return declared


def uncovered(shape: Shape, declared: Declared) -> str | None:
    """Why the declared indexes do not serve `shape`, or None when they do."""
    every = shape.equalities | {f for f, _ in shape.sort()}
    exempt = sorted(f for f in every if (shape.collection, f) in declared.exempt)
    sort = shape.sort()
    single_field = not sort or (not shape.equalities and len(sort) == 1)
    if single_field:
        if shape.scope != "COLLECTION":
            return "a collection-group query needs declared indexes"
        return f"fields {exempt} are exempt from single-field indexes" if exempt else None
    suffixes = []
    for fields in declared.composites.get((shape.collection, shape.scope), []):
        fields = fields[:-1] if fields[-1][0] == NAME else fields
        prefix, tail = fields[: len(fields) - len(sort)], fields[len(fields) - len(sort) :]
        if tuple(tail) == sort and {f for f, _ in prefix} <= shape.equalities:
            suffixes.append({f for f, _ in prefix})
    if any(p == shape.equalities for p in suffixes):
        return None
    if shape.equalities and set().union(*suffixes) == shape.equalities and all(suffixes):
        return None  # index merging
    want = [*((f, ASC) for f in sorted(shape.equalities)), *sort]
    return f"needs a composite index like {want}"
