"""run.json: a lossless round trip (unknown keys kept), failure and resume bookkeeping, omitted sections."""

from __future__ import annotations

import json

from edgebench.results import MethodMeta, RunMeta


def _meta(**overrides) -> RunMeta:
    values = {
        "config_file": "exp.yaml",
        "config_hash": "abc123",
        "config": {"seed": 7, "federation": {"rounds": 3}},
        "run_dir": "runs/exp",
        "device": {"name": "host", "profile": "generic"},
        "started_at": "2024-01-01T00:00:00+00:00",
        "git_commit": "deadbeef",
        "packages": {"torch": "2.0", "flwr": None},
        "host": {"hostname": "h", "cpus": 4},
    }
    return RunMeta(**{**values, **overrides})


def _method(status: str = "running") -> MethodMeta:
    return MethodMeta(method="lora", summary="LoRA", params={"r": 4}, trainable_parameters=1234, status=status)


def _full() -> RunMeta:
    meta = _meta(
        runtime={"kind": "flower"},
        data={"dataset": "ag_news_sample"},
        model={"name": "tiny-bert"},
        measurement={"energy": {"meter": "null"}},
        resumed_at=["2024-01-02T00:00:00+00:00"],
        ended_at="2024-01-03T00:00:00+00:00",
        status="complete",
        extra={"future_key": {"x": 1}},
    )
    meta.methods = {"lora": _method("complete"), "ffa": _method()}
    return meta


def test_to_json_from_json_round_trip() -> None:
    meta = _full()
    assert RunMeta.from_json(meta.to_json()) == meta


def test_round_trip_survives_json_text() -> None:
    meta = _full()
    assert RunMeta.from_json(json.loads(json.dumps(meta.to_json(), allow_nan=False))) == meta


def test_methods_are_written_as_objects_and_read_back_as_method_meta() -> None:
    data = _full().to_json()
    assert data["methods"]["lora"] == {
        "method": "lora",
        "summary": "LoRA",
        "params": {"r": 4},
        "trainable_parameters": 1234,
        "status": "complete",
    }
    back = RunMeta.from_json(data)
    assert isinstance(back.methods["ffa"], MethodMeta) and back.methods["ffa"].status == "running"


def test_unknown_keys_are_kept_in_extra_and_written_back_at_top_level() -> None:
    data = _meta().to_json()
    data["written_by_a_newer_version"] = [1, 2]
    back = RunMeta.from_json(data)
    assert back.extra == {"written_by_a_newer_version": [1, 2]}
    out = back.to_json()
    assert out["written_by_a_newer_version"] == [1, 2]
    assert "extra" not in out


def test_optional_sections_are_omitted_while_unknown() -> None:
    data = _meta().to_json()
    for key in ("runtime", "data", "model", "measurement", "resumed_at", "extra"):
        assert key not in data, key
    assert data["methods"] == {}
    assert data["ended_at"] is None and data["status"] == "running"


def test_optional_sections_are_written_once_known() -> None:
    data = _full().to_json()
    assert data["runtime"] == {"kind": "flower"} and data["data"] == {"dataset": "ag_news_sample"}
    assert data["model"] == {"name": "tiny-bert"} and data["measurement"] == {"energy": {"meter": "null"}}
    assert data["resumed_at"] == ["2024-01-02T00:00:00+00:00"]


def test_an_empty_optional_section_is_written() -> None:
    assert _meta(measurement={}).to_json()["measurement"] == {}


def test_fail_marks_running_methods_failed_and_leaves_complete_ones() -> None:
    meta = _meta()
    meta.methods = {"done": _method("complete"), "busy": _method("running")}
    meta.fail(RuntimeError("out of memory"))
    assert meta.status == "failed: RuntimeError: out of memory"
    assert meta.methods["busy"].status == "failed: RuntimeError: out of memory"
    assert meta.methods["done"].status == "complete"
    assert meta.ended_at is not None


def test_finish_marks_the_run_complete_with_an_end_time() -> None:
    meta = _meta()
    meta.finish()
    assert meta.status == "complete" and meta.ended_at is not None


def test_resumed_appends_a_resume_time_and_clears_the_end() -> None:
    meta = _meta(resumed_at=["2024-01-02T00:00:00+00:00"])
    meta.fail(KeyboardInterrupt())
    meta.resumed()
    assert meta.status == "running"
    assert meta.ended_at is None
    assert len(meta.resumed_at) == 2 and meta.resumed_at[0] == "2024-01-02T00:00:00+00:00"
    assert meta.resumed_at[1] >= meta.started_at


def test_resumed_at_lists_are_not_shared_between_runs() -> None:
    first, second = _meta(), _meta()
    first.resumed()
    assert second.resumed_at == []


def test_interrupt_records_the_signal_and_rounds_and_resume_clears_it() -> None:
    meta = _meta()
    meta.methods = {"done": _method("complete"), "busy": _method("running")}
    meta.interrupt("SIGTERM", {"done": 3, "busy": 1})
    assert meta.status == "interrupted"
    assert meta.methods["busy"].status == "interrupted" and meta.methods["done"].status == "complete"
    data = meta.to_json()
    assert data["interruption"] == {"signal": "SIGTERM", "at": meta.ended_at, "rounds_done": {"done": 3, "busy": 1}}
    assert RunMeta.from_json(data) == meta
    meta.resumed()
    assert meta.status == "running" and "interruption" not in meta.to_json()


def test_fail_on_an_os_error_names_the_path_and_the_reason() -> None:
    import errno
    import os

    meta = _meta()
    meta.fail(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/x/clients.csv"))
    assert meta.status == "failed: OSError: /runs/x/clients.csv: No space left on device"
