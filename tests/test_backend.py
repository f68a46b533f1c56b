from __future__ import annotations

from pathlib import Path

import pytest

from dialog.backend import Backend
from dialog.errors import BackendError
from dialog.infra.dbbuild import build_sgd_databases
from dialog.schema import load_schema, load_schemas
from dialog.types import ServiceCall


@pytest.fixture
def restaurants(schemas_dir: Path) -> Backend:
    return Backend.open(load_schema(schemas_dir / "showcase" / "restaurant_booking.yaml"))


@pytest.fixture
def clinic(schemas_dir: Path) -> Backend:
    return Backend.open(load_schema(schemas_dir / "showcase" / "clinic_appointment.yaml"))


def test_showcase_tables_load_their_rows(schemas_dir: Path) -> None:
    counts = {}
    for schema in load_schemas(sorted((schemas_dir / "showcase").glob("*.yaml"))):
        with Backend.open(schema) as backend:
            counts.update({t: backend.count(t) for t in schema.backend.tables})
    assert counts == {"restaurants": 30, "doctors": 12, "appointments": 96, "accounts": 2, "payees": 8}


def test_search_is_case_and_space_insensitive(restaurants: Backend) -> None:
    rows = restaurants.search("FindRestaurant", {"city": "  porto ", "cuisine": "ITALIAN"})
    assert [r["restaurant_name"] for r in rows] == ["Il Forno"]


def test_search_dontcare_lists_and_limit(restaurants: Backend) -> None:
    every_price = restaurants.search("FindRestaurant", {"city": "Madrid", "price_range": "dontcare"})
    assert len(every_price) == 9
    two_cuisines = restaurants.search("FindRestaurant", {"city": "Madrid", "cuisine": ["italian", "french"]})
    assert {r["cuisine"] for r in two_cuisines} == {"italian", "french"} and len(two_cuisines) == 3
    assert len(restaurants.search("FindRestaurant", {"city": "Madrid"}, limit=2)) == 2
    assert restaurants.search("FindRestaurant", {"city": "Atlantis"}) == ()


def test_unknown_names_are_clear_errors(restaurants: Backend) -> None:
    with pytest.raises(BackendError, match="has no slot 'colour'"):
        restaurants.search("FindRestaurant", {"colour": "red"})
    with pytest.raises(BackendError, match=r"has no intent 'Fly'.*intents: FindRestaurant, BookTable"):
        restaurants.search("Fly", {})
    with pytest.raises(BackendError, match="not transactional"):
        restaurants.execute("FindRestaurant", {})


@pytest.mark.parametrize(
    "value",
    [
        "x' OR '1'='1",
        "'; DROP TABLE t_restaurants; --",
        'Lisbon" OR 1=1 --',
        "{city}",
        "Robert'); DELETE FROM t_restaurants WHERE ('1'='1",
    ],
)
def test_injection_strings_are_plain_values(restaurants: Backend, value: str) -> None:
    before = restaurants.fingerprint()
    assert restaurants.search("FindRestaurant", {"city": value}) == ()
    result = restaurants.execute("BookTable", {"restaurant_name": value, "date": "today", "time": "19:00"})
    assert not result.success
    assert restaurants.fingerprint() == before


def test_execute_checks_the_table_and_records(restaurants: Backend) -> None:
    ok = restaurants.execute(
        "BookTable", {"restaurant_name": "jade garden", "date": "2026-12-24", "time": "20:00"}
    )
    assert ok.success and ok.transactional
    assert ok.rows[0]["party_size"] == "2"  # the optional slot's default
    assert ok.rows[0]["address"] == "88 Avenida da Liberdade"  # result slot from the table
    missing = restaurants.execute("BookTable", {"restaurant_name": "Jade Garden", "date": "2026-12-24"})
    assert not missing.success
    assert restaurants.transactions() == [
        (
            "BookTable",
            {"date": "2026-12-24", "party_size": "2", "restaurant_name": "jade garden", "time": "20:00"},
        )
    ]


def test_execute_consumes_a_free_slot(clinic: Backend) -> None:
    booking = {"doctor_name": "Dr. Tomás Pereira", "date": "2026-12-01", "time": "09:00", "patient_name": "A"}
    assert clinic.execute("BookAppointment", booking).success
    assert not clinic.execute("BookAppointment", {**booking, "patient_name": "B"}).success
    assert clinic.count("appointments") == 95
    taken = {**booking, "time": "14:00"}  # never free for this doctor on this day
    assert not clinic.execute("BookAppointment", taken).success


def test_call_dispatches_search_and_execute(clinic: Backend) -> None:
    found = clinic.call(ServiceCall("FindDoctor", {"specialty": "pediatrics", "city": "Madrid"}))
    assert found.count == 1 and found.rows[0]["doctor_name"] == "Dr. Elena Navarro"
    assert not found.transactional


def test_built_tables_need_the_database(schemas_dir: Path, tmp_path: Path) -> None:
    schema = load_schema(schemas_dir / "sgd" / "Restaurants_2.yaml")
    with pytest.raises(BackendError, match="tod db build"):
        Backend.open(schema)
    with pytest.raises(BackendError, match="database not found"):
        Backend.open(schema, tmp_path / "nope.sqlite")


def test_db_build_fills_tables_from_sgd_results(data_dir: Path, schemas_dir: Path, tmp_path: Path) -> None:
    schemas = load_schemas([schemas_dir / "sgd" / f"{s}.yaml" for s in ("Restaurants_2", "Alarm_1")])
    stats = build_sgd_databases(schemas, data_dir, ["dev"], tmp_path)
    by_table = {(s.service, s.table): s for s in stats}
    restaurants = by_table[("Restaurants_2", "FindRestaurants")]
    assert restaurants.calls > 0 and restaurants.rows > 0
    with Backend.open(schemas[0], tmp_path / "Restaurants_2.sqlite") as backend:
        assert backend.count("FindRestaurants") == restaurants.rows
        row = backend.search("FindRestaurants", {})[0]
        again = backend.search("FindRestaurants", {"restaurant_name": row["restaurant_name"]})
        assert row in again
