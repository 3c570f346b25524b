"""Settings resolve flags → file → defaults; bad settings are clear errors."""

from __future__ import annotations

import datetime as dt

import pytest

from segmentkit.config import load_settings
from segmentkit.errors import InputError


def test_flags_override_file_override_defaults(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[columns]\namount = "Revenue"\ncustomer_id = "Cust"\n'
                 '[clustering]\nk_max = 8\nseed = 3\n[roles]\nfeatures = ["points"]\n'
                 '[data]\nsnapshot_date = "2025-01-01"\n')
    s = load_settings(p, columns={"customer_id": "ID", "amount": None}, clustering={"seed": 9})
    assert s.columns.customer_id == "ID"  # flag wins
    assert s.columns.amount == "Revenue"  # file
    assert s.columns.event_time == "event_time"  # default
    assert s.clustering.k_max == 8 and s.clustering.seed == 9
    assert s.roles.features == ("points",)
    assert s.snapshot_date.isoformat() == "2025-01-01"


def test_unknown_setting_named(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[clustering]\nkk = 3\n")
    with pytest.raises(InputError, match="unknown setting.*kk"):
        load_settings(p)


def test_invalid_k_message():
    with pytest.raises(InputError, match="^--k must be an integer from 2 to 100, got 1$"):
        load_settings(clustering={"k": 1})


def test_spark_section_with_dotted_settings(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[spark]\nmaster = "yarn"\n[spark.config]\nspark.executor.memory = "8g"\n'
                 '"spark.sql.shuffle.partitions" = 400\nspark.ui.enabled = false\n')
    s = load_settings(p).spark
    assert (s.master, s.app_name) == ("yarn", "segmentkit")
    assert s.config == {"spark.executor.memory": "8g", "spark.sql.shuffle.partitions": "400",
                        "spark.ui.enabled": "false"}
    p.write_text('[spark.config]\nexecutor.memory = "8g"\n')
    with pytest.raises(InputError, match=r"\[spark.config\] 'executor.memory' is not a Spark setting"):
        load_settings(p)


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("min_share", 0.6, "a number from 0 to 0.5"),
    ("min_value_share", 0.9, "a number from 0 to 0.5"),
    ("max_segments", 1, "an integer from 2 to 100"),
    ("seed", -1, "an integer from 0 to 4294967295"),
    ("k_min", 1, "an integer from 2 to 100"),
])
def test_one_range_for_file_flags_and_library(tmp_path, name, value, allowed):
    """The same range, and the same words, whether the value comes from the settings file,
    a flag, or the Python API."""
    from segmentkit.pipeline import Segmentation

    p = tmp_path / "s.toml"
    p.write_text(f"[clustering]\n{name} = {value}\n")
    with pytest.raises(InputError, match=rf"^s\.toml: \[clustering\] {name} must be {allowed}, got {value}$"):
        load_settings(p)
    with pytest.raises(InputError, match=rf"^--{name.replace('_', '-')} must be {allowed}, got {value}$"):
        load_settings(clustering={name: value})
    keyword = "random_state" if name == "seed" else name
    with pytest.raises(InputError, match=rf"^{name} must be {allowed}, got {value}$"):
        Segmentation(**{keyword: value}).resolved_settings()


def test_settings_written_as_toml_read_back_the_same(tmp_path):
    from segmentkit.config import (ClusteringSettings, ColumnMapping, HoldoutSettings, Roles, Settings,
                                   SparkSettings, format_settings)

    settings = Settings(
        columns=ColumnMapping(customer_id='Kunden "Nr"', channel="", customers_id="id", price="unit price"),
        roles=Roles(persona="persona", features=("age", "income")),
        clustering=ClusteringSettings(algorithm="ward", k=4, k_min=3, k_max=7, seed=2**32 - 1, min_share=0.07,
                                      min_value_share=1e-05, n_bootstrap=0, validate=False),
        snapshot_date=dt.date(2024, 2, 29), keep_duplicates=True, holdout=HoldoutSettings(enabled=True),
        spark=SparkSettings(master="local[2]", config={"spark.executor.memory": "8g"}, driver_customers=5000),
    )
    path = tmp_path / "project.toml"
    path.write_text(format_settings(settings), encoding="utf-8")
    assert load_settings(path) == settings
    text = format_settings(Settings())
    assert "[database]" not in text and "[holdout]" not in text and "k = " not in text  # defaults, None left out
    path.write_text(text, encoding="utf-8")
    assert load_settings(path) == Settings()


def test_driver_customers_from_file_and_flag(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[spark]\ndriver_customers = 5000\n")
    assert load_settings(p).spark.driver_customers == 5000
    assert load_settings(p, spark={"driver_customers": 300}).spark.driver_customers == 300
    assert load_settings().spark.driver_customers == 2_000_000
    p.write_text("[spark]\ndriver_customers = 10\n")
    with pytest.raises(InputError, match=r"^s\.toml: \[spark\] driver_customers must be an integer of at least 100, got 10$"):
        load_settings(p)
    with pytest.raises(InputError, match=r"^--driver-customers must be an integer of at least 100, got 0$"):
        load_settings(spark={"driver_customers": 0})
