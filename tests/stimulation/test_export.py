import csv
import json

import numpy as np
import pytest

from spikebridge.stimulation import SafetyLimits, spikes_to_schedule, write_csv, write_json
from spikebridge.stimulation.export import COLUMN_UNITS, SCHEMA_VERSION


@pytest.fixture
def schedule():
    spikes = (np.random.default_rng(0).random((400, 3)) < 0.4).astype(np.uint8)
    return spikes_to_schedule(spikes, 0.002, limits=SafetyLimits(max_pulse_rate_hz=60), policy="delay")


def test_csv_round_trips_every_column(schedule, tmp_path):
    path = write_csv(schedule, tmp_path / "sub" / "schedule.csv")
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == list(COLUMN_UNITS)
    assert len(rows) == len(schedule) > 0
    for name, values in schedule.columns().items():
        read = [row[name] for row in rows]
        if name == "cathodic_first":
            assert [bool(int(v)) for v in read] == values.tolist()
        elif values.dtype.kind == "f":
            assert np.array_equal(np.array(read, dtype=float), values)  # repr round-trips exactly
        else:
            assert np.array_equal(np.array(read, dtype=np.int64), values)
    assert not list(tmp_path.glob("sub/.*.tmp"))  # atomic write left no temporary file


def test_json_has_the_documented_schema(schedule, tmp_path):
    path = write_json(schedule, tmp_path / "schedule.json")
    document = json.loads(path.read_text())
    assert document["format"] == "spikebridge.stimulation_schedule"
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["n_pulses"] == len(schedule) and document["n_channels"] == 3
    assert document["units"] == COLUMN_UNITS and list(document["pulses"]) == list(COLUMN_UNITS)
    assert document["pulses"]["time_us"] == schedule.time_us.tolist()
    assert document["pulses"]["cathodic_charge_nc"] == document["pulses"]["anodic_charge_nc"]
    assert document["limits"]["max_pulse_rate_hz"] == 60
    total = document["report"]["total"]
    assert total["requested"] == total["delivered"] + total["dropped"]
    assert sum(document["report"]["per_channel"]["delayed"]) == total["delayed"] > 0


def test_empty_schedule_and_type_errors(tmp_path):
    empty = spikes_to_schedule(np.zeros((5, 2), np.uint8), 0.01)
    assert len(empty) == 0
    assert (tmp_path / "e.csv").exists() is False
    write_csv(empty, tmp_path / "e.csv")
    assert (tmp_path / "e.csv").read_text().count("\n") == 1  # the header only
    assert json.loads(write_json(empty, tmp_path / "e.json").read_text())["pulses"]["time_us"] == []
    with pytest.raises(TypeError, match="StimulationSchedule"):
        write_csv({"time_us": []}, tmp_path / "x.csv")
