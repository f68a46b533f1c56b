from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dialog.common.yamlpos import YamlProblems, load_located
from dialog.schema import Schema, expand_paths, json_schema, load_schema, load_schemas, parse_schema

GOOD = """\
version: 1
service: Cafe
description: Order coffee
slots:
  - name: drink
    description: The drink
    categorical: true
    values: [espresso, latte]
  - name: size
    description: Cup size
    examples: [small, large]
  - name: pickup_time
    description: When to pick it up
intents:
  - name: OrderDrink
    description: Order a drink
    transactional: true
    required_slots: [drink]
    optional_slots:
      size: small
    result_slots: [drink, size, pickup_time]
"""


def sgd_schema_json(data_dir: Path, split: str) -> list[dict]:  # type: ignore[type-arg]
    with gzip.open(data_dir / "sgd" / split / "schema.json.gz", "rt") as f:
        return json.load(f)  # type: ignore[no-any-return]


def problems(text: str, file: str = "s.yaml") -> list[str]:
    with pytest.raises(YamlProblems) as info:
        parse_schema(load_located(text, file), file)
    return [str(p) for p in info.value.problems]


def test_good_schema_loads() -> None:
    schema = parse_schema(load_located(GOOD, "s.yaml"), "s.yaml")
    assert schema.service == "Cafe"
    assert schema.intent("OrderDrink").needs_confirmation  # transactional confirms by default
    assert schema.slot("drink").values == ["espresso", "latte"]
    assert schema.digest() == parse_schema(load_located(GOOD, "t.yaml"), "t.yaml").digest()


def test_times_and_dates_stay_text() -> None:
    text = GOOD.replace("examples: [small, large]", "examples: [19:00, 2026-12-01, 4, true]")
    schema = parse_schema(load_located(text, "s.yaml"), "s.yaml")
    assert schema.slot("size").examples == ["19:00", "2026-12-01", "4", "True"]


def test_empty_file() -> None:
    assert problems("") == ["s.yaml:1:1: the file is empty: expected a YAML mapping"]
    assert problems("# only a comment\n") == [
        "s.yaml:1:1: the file holds no YAML document: expected a mapping"
    ]


def test_not_yaml_is_located() -> None:
    [message] = problems("version: 1\nservice: [unclosed\n")
    assert message.startswith("s.yaml:3:1: not valid YAML")


def test_tab_indentation_is_located() -> None:
    [message] = problems("version: 1\nslots:\n\t- name: x\n")
    assert message.startswith("s.yaml:3:1: not valid YAML") and "tabs" in message


def test_not_a_mapping() -> None:
    assert problems("- a\n- b\n") == ["s.yaml:1:1: expected a mapping of schema keys, found a list"]


def test_unknown_key_names_line_column_and_alternatives() -> None:
    text = GOOD.replace("    categorical: true\n", "    categorical: true\n    colour: red\n")
    [message] = problems(text)
    assert message.startswith("s.yaml:8:5: unknown key 'colour' (expected one of: name, description")


def test_missing_required_field() -> None:
    text = GOOD.replace("description: Order coffee\n", "")
    assert problems(text) == ["s.yaml:1:1: missing required key 'description'"]
    text = GOOD.replace("    description: Cup size\n", "")
    assert problems(text) == ["s.yaml:9:5: missing required key 'description'"]


def test_wrong_type() -> None:
    text = GOOD.replace("transactional: true", "transactional: [yes]")
    [message] = problems(text)
    assert message.startswith("s.yaml:17:20: intents.0.transactional: Input should be a valid boolean")


def test_dangling_slot_reference() -> None:
    text = GOOD.replace("required_slots: [drink]", "required_slots: [drink, milk]")
    [message] = problems(text)
    assert message.startswith("s.yaml:18:29: intent 'OrderDrink' names unknown slot 'milk' (slots: drink,")


def test_duplicate_key() -> None:
    text = GOOD.replace("service: Cafe\n", "service: Cafe\nservice: Bar\n")
    assert problems(text) == ["s.yaml:3:1: duplicate key 'service' (first at line 2)"]


def test_duplicate_names_and_all_problems_at_once() -> None:
    text = GOOD.replace("  - name: size\n", "  - name: drink\n").replace(
        "    result_slots: [drink, size, pickup_time]", "    result_slots: [drink, nope]\n    table: ghost"
    )
    found = problems(text)
    assert any("9:11: duplicate slot name 'drink'" in m for m in found)
    assert any("unknown slot 'nope'" in m for m in found)
    assert any("unknown backend table 'ghost'" in m for m in found)
    assert any("unknown slot 'size'" in m for m in found)  # the optional slot now dangles
    assert len(found) >= 4


def test_categorical_default_and_templates_are_checked() -> None:
    text = GOOD.replace("      size: small", "      drink: mocha").replace(
        "    required_slots: [drink]", "    required_slots: [size]"
    )
    assert any("default 'mocha' is not a value of slot 'drink'" in m for m in problems(text))
    bad_templates = GOOD + "templates:\n  SHOUT: hi\n  OFFER: '{drink} or {colour}'\n  REQUEST:milk: x\n"
    found = problems(bad_templates)
    assert any("'SHOUT' is not a system act" in m for m in found)
    assert any("placeholder '{colour}' is not a slot" in m for m in found)
    assert any("'REQUEST:milk' names unknown slot 'milk'" in m for m in found)


def test_synonyms_name_one_value_and_are_located() -> None:
    with_synonyms = GOOD.replace(
        "    values: [espresso, latte]\n",
        "    values: [espresso, latte]\n    synonyms:\n      latte: [milky coffee, cafe latte]\n",
    )
    drink = parse_schema(load_located(with_synonyms, "s.yaml"), "s.yaml").slot("drink")
    assert drink.value_of("Milky Coffee") == "latte" and drink.value_of("LATTE") == "latte"
    assert drink.value_of("tea") is None
    colliding = with_synonyms.replace(
        "      latte: [milky coffee, cafe latte]\n",
        "      latte: [milky coffee, short]\n      espresso: [short, latte]\n      mocha: [chocolate]\n",
    )
    found = problems(colliding)
    assert "s.yaml:11:18: synonym 'short' of 'espresso' in slot 'drink' is also a synonym of 'latte'" in found
    assert "s.yaml:11:25: synonym 'latte' of 'espresso' in slot 'drink' is also a value" in found
    assert any(m.startswith("s.yaml:12:7: synonyms for 'mocha', which is not a value") for m in found)


def test_synonyms_leave_the_digest_of_a_schema_without_them_alone() -> None:
    plain = parse_schema(load_located(GOOD, "s.yaml"), "s.yaml")
    assert plain.digest() == "1a1fe32641515220"  # as before synonyms existed (trained artifacts record it)


def test_ten_thousand_slots_is_a_clear_error() -> None:
    slots = "".join(f"  - name: s{i}\n    description: slot {i}\n" for i in range(10_000))
    text = GOOD.split("slots:\n")[0] + "slots:\n" + slots + "intents:\n" + GOOD.split("intents:\n")[1]
    text = (
        text.replace("[drink]", "[s1]")
        .replace("size: small", "s2: x")
        .replace("[drink, size, pickup_time]", "[s1]")
    )
    [message] = problems(text)
    assert message.startswith("s.yaml:5:3: slots: List should have at most 500 items")


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(YamlProblems, match="cannot read the file"):
        load_schema(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"version: 1\nservice: \xff\xfe\n")
    with pytest.raises(YamlProblems, match=r"bad.yaml:2:1: the file is not UTF-8"):
        load_schema(bad)


def test_duplicate_services_across_files(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(GOOD)
    with pytest.raises(YamlProblems, match="service 'Cafe' is also defined in"):
        load_schemas(sorted(tmp_path.glob("*.yaml")))


def test_committed_schemas_all_validate(schemas_dir: Path) -> None:
    files = expand_paths([str(schemas_dir / "**" / "*.yaml")])
    schemas = load_schemas(files)
    services = {s.service for s in schemas}
    assert {"RestaurantBooking", "ClinicAppointment", "BankTransfer"} <= services
    assert len([f for f in files if "sgd" in f.parts]) == 34


@pytest.mark.parametrize("split", ["train", "dev"])
def test_sgd_schema_import_is_lossless(data_dir: Path, split: str) -> None:
    for obj in sgd_schema_json(data_dir, split):
        schema = Schema.from_sgd(obj)
        reloaded = parse_schema(load_located(schema.to_yaml(), "x.yaml"), "x.yaml")
        assert reloaded.to_sgd() == obj


def test_committed_sgd_schemas_match_the_data(data_dir: Path, schemas_dir: Path) -> None:
    for split in ("train", "dev"):
        for obj in sgd_schema_json(data_dir, split):
            committed = load_schema(schemas_dir / "sgd" / f"{obj['service_name']}.yaml").to_sgd()
            assert committed == obj  # dict equality: the order of optional slots may differ


def test_committed_json_schema_is_up_to_date(schemas_dir: Path) -> None:
    committed = json.loads((schemas_dir / "schema.v1.json").read_text())
    assert committed == json_schema(), "regenerate with: tod schema json-schema --out schemas/schema.v1.json"


def test_expand_paths_handles_globs_commas_and_directories(schemas_dir: Path) -> None:
    showcase = schemas_dir / "showcase"
    by_glob = expand_paths([f"{showcase}/*.yaml"])
    assert len(by_glob) == 3
    assert expand_paths([f"{by_glob[0]},{by_glob[1]}", str(by_glob[0])]) == by_glob[:2]
    assert expand_paths([str(showcase)]) == by_glob


def test_a_typed_slots_values_are_written_as_stored_and_located(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "version: 1\nservice: Table_1\ndescription: Tables\nslots:\n"
        "  - name: party_size\n    description: People\n    type: number\n    categorical: true\n"
        "    values: [1, 2, three]\n"
        "  - name: time\n    description: Time\n    type: time\n"
        "intents:\n  - name: Book\n    description: Book\n    required_slots: [party_size]\n"
    )
    with pytest.raises(YamlProblems) as err:
        load_schemas([path])
    message = str(err.value)
    assert "value 'three' of number slot 'party_size' is not written as a number is stored" in message
    assert f"{path}:9:20" in message  # the line and column of the value
