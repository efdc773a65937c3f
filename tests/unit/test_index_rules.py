"""The index rules of tests/firestore_indexes.py reject what production Firestore would
refuse and accept what it serves, on queries built by the real client library."""

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from tests.firestore_indexes import Declared, Shape, uncovered

DB = firestore.Client(project="p", credentials=AnonymousCredentials())


def shape(query):
    return Shape.of(query._to_protobuf())


def runs():
    return DB.collection("runs")


def eq(field, value="x"):
    return FieldFilter(field, "==", value)


def declared(*indexes, exempt=()):
    result = Declared()
    for collection, *fields in indexes:
        result.composites.setdefault((collection, "COLLECTION"), []).append(tuple(fields))
    result.exempt = set(exempt)
    return result


NONE = declared()
ORG_CREATED = ("runs", ("org_id", "ASCENDING"), ("created_at", "DESCENDING"))


@pytest.mark.parametrize(
    "query",
    [
        runs().where(filter=eq("org_id")),
        runs().where(filter=eq("org_id")).where(filter=eq("status")),
        runs().where(filter=FieldFilter("ended_at", "<=", 5)).order_by("ended_at"),
        runs().order_by("created_at", direction="DESCENDING"),
        runs().where(filter=FieldFilter("ended_at", "<=", 5)),
        runs().order_by("created_at").order_by("__name__"),
    ],
)
def test_single_field_indexes_serve_simple_queries(query):
    assert uncovered(shape(query), NONE) is None


def test_equality_with_an_ordering_needs_a_composite_index_in_the_right_direction():
    query = runs().where(filter=eq("org_id")).order_by("created_at", direction="DESCENDING")
    assert "needs a composite index" in uncovered(shape(query), NONE)
    assert uncovered(shape(query), declared(ORG_CREATED)) is None
    ascending = ("runs", ("org_id", "ASCENDING"), ("created_at", "ASCENDING"))
    assert uncovered(shape(query), declared(ascending)) is not None
    other_collection = ("findings", *ORG_CREATED[1:])
    assert uncovered(shape(query), declared(other_collection)) is not None


def test_the_document_name_is_implied_last_in_the_last_fields_direction():
    query = (
        runs()
        .where(filter=eq("org_id"))
        .order_by("created_at", direction="DESCENDING")
        .order_by("__name__", direction="DESCENDING")
    )
    assert uncovered(shape(query), declared(ORG_CREATED)) is None
    mixed = runs().where(filter=eq("org_id")).order_by("created_at", direction="DESCENDING")
    mixed = mixed.order_by("__name__")
    assert uncovered(shape(mixed), declared(ORG_CREATED)) is not None


def test_several_orderings_need_a_composite_index():
    query = DB.collection("findings").order_by("step_order").order_by("index")
    assert uncovered(shape(query), NONE) is not None
    index = ("findings", ("step_order", "ASCENDING"), ("index", "ASCENDING"))
    assert uncovered(shape(query), declared(index)) is None


def test_equality_fields_may_merge_over_indexes_with_the_same_ordering():
    query = runs().where(filter=eq("org_id")).where(filter=eq("status")).order_by("created_at")
    by_org = ("runs", ("org_id", "ASCENDING"), ("created_at", "ASCENDING"))
    by_status = ("runs", ("status", "ASCENDING"), ("created_at", "ASCENDING"))
    assert uncovered(shape(query), declared(by_org)) is not None
    assert uncovered(shape(query), declared(by_org, by_status)) is None


def test_an_exempted_field_has_no_single_field_index():
    query = runs().where(filter=FieldFilter("output_expires_at", "<=", 1))
    assert uncovered(shape(query), declared(exempt={("runs", "output_expires_at")})) is not None
    assert uncovered(shape(query), declared(exempt={("runs", "steps")})) is None
