"""The model-memory estimate table: builds on the meta device, and docs/models.md shows what it prints."""

from __future__ import annotations

from pathlib import Path

from benchmarks import model_memory

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_smoke_table_is_the_one_in_docs_models(capsys) -> None:
    model_memory.main(["--smoke"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| MiniLM-L6")]
    assert [r.split(" | ")[1] for r in rows] == [
        "lora (r = 8)",
        "ffa_lora (r = 8)",
        "fedara (r0 = 12)",
        "fedadalora (r0 = 12)",
    ]
    assert "(not measured)" in out
    doc = DOC.read_text()
    assert all(row in doc for row in rows), "docs/models.md is stale: rerun python -m benchmarks.model_memory"


def test_models_are_built_without_memory() -> None:
    model_type, dims = model_memory.SIZED["Qwen2-0.5B (Qwen/Qwen2-0.5B)"]
    model = model_memory.build_on_meta(model_type, dims)
    assert all(p.is_meta for p in model.parameters())
    assert 490e6 < sum(p.numel() for p in model.parameters()) < 500e6  # Qwen2-0.5B: 494M
