"""Benchmark: what the profiler adds to round time, profiled vs unprofiled smoke rounds of the same run.

Runs the smoke experiment with the profiler switched on and off on alternate rounds (switched between
rounds, outside the measured span: on = this machine's default meters, or ``--variant sampler``: a
power meter sampled at 20 Hz by the separate sampler process, as on a Jetson; off =
``profiler.enabled: false`` with the sampler process stopped). Adjacent rounds run under the same
background load, so slow drift and other work on the machine cancel; the on/off phase flips from one
repeat to the next, so the intrinsic difference between adjacent rounds cancels too. Round 1 of each
method (warm-up) is skipped. Each round is timed from the end of the previous one (clients,
aggregation, evaluation, results rows) in wall time and in this process's CPU time.

Figures (geometric mean over adjacent (on, off) round pairs of t_on / t_off - 1, with 1 standard error):

* wall: what the issue's 1 % budget is about; on a shared machine its noise can exceed the effect.
* CPU: this process's CPU seconds per round; far less sensitive to other load on the machine.
* self-timed: the profiler's own time at window edges (``measurement.overhead_s``) over the profiled
  rounds' wall time. Precise, but blind to indirect costs.
* sampler CPU (``--variant sampler``): the sampler process's CPU seconds over the profiled rounds' wall
  time, i.e. the share of one core it takes from training.

    python -m benchmarks.profiler_overhead                       # smoke config, 8 rounds, 2 repeats
    python -m benchmarks.profiler_overhead --variant sampler     # with a 20 Hz sampler process
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from edgebench.config import ExperimentConfig, ProfilerConfig, load_config
from edgebench.fl.engine import Engine
from edgebench.fl.progress import Progress
from edgebench.profiler.energy import SampledEnergy
from edgebench.profiler.windows import Profiler

REPO = Path(__file__).resolve().parent.parent


class _Alternate(Progress):
    """Switches the profiler on for rounds where (round + phase) is even, off otherwise, between rounds,
    and times every round (wall and CPU) from the end of the previous one."""

    def __init__(self, profiler: Profiler, phase: int) -> None:
        super().__init__(quiet=True)
        self.profiler = profiler
        self.phase = phase
        self.label = ""
        self.rounds: dict[tuple[str, int], tuple[bool, float, float]] = {}  # (on, wall_s, cpu_s)
        self.sampler_cpu_s = 0.0
        self._mark = (0.0, 0.0)

    def _prepare(self, rnd: int) -> None:
        if (rnd + self.phase) % 2 == 0:
            self.profiler.enabled = True
            self.profiler.start()
        else:
            energy = self.profiler.energy
            if isinstance(energy, SampledEnergy) and energy.sampler.running and energy.sampler.pid:
                times = psutil.Process(energy.sampler.pid).cpu_times()
                self.sampler_cpu_s += times.user + times.system
            self.profiler.close()  # stops a sampler process
            self.profiler.enabled = False
        self._mark = (time.perf_counter(), time.process_time())

    def start_method(self, label: str, rounds: int, clients_per_round: int, first_round: int = 1) -> None:
        self.label = label
        self._prepare(first_round)

    def round_done(self, rnd: int, round_s: float, accuracy: float | None, rejected: int) -> None:
        wall, cpu = time.perf_counter() - self._mark[0], time.process_time() - self._mark[1]
        self.rounds[(self.label, rnd)] = ((rnd + self.phase) % 2 == 0, wall, cpu)
        self._prepare(rnd + 1)

    def end_method(self) -> None:
        self._prepare(self.phase + 1)  # an "off" round number: stop the sampler between methods


def _config(base: ExperimentConfig, variant: str, trace: Path, rounds: int) -> ExperimentConfig:
    fed = base.federation.model_copy(update={"rounds": rounds, "eval_every": 1})
    if variant == "sampler":
        profiler = ProfilerConfig(meters=["replay"], replay_trace=str(trace), sample_rate_hz=20)
    else:
        profiler = ProfilerConfig()
    config = base.model_copy(update={"profiler": profiler, "federation": fed})
    config._source = base.source
    return config


def _run(config: ExperimentConfig, run_dir: Path, phase: int) -> dict[str, Any]:
    engine = Engine(config, run_dir)
    progress = _Alternate(engine.profiler, phase)
    engine.progress = progress
    started = time.perf_counter()
    engine.run()
    meta = json.loads((run_dir / "run.json").read_text())
    return {
        "rounds": progress.rounds,
        "sampler_cpu_s": progress.sampler_cpu_s,
        "overhead_s": meta["measurement"]["overhead_s"],
        "energy": meta["measurement"]["energy"].get("meter"),
        "wall_s": time.perf_counter() - started,
    }


def _ab(runs: list[dict[str, Any]], index: int) -> tuple[float, float, int]:
    """Geometric-mean overhead, its standard error and the pair count, over adjacent on/off rounds."""
    logs = []
    for run in runs:
        for (method, rnd), current in run["rounds"].items():
            following = run["rounds"].get((method, rnd + 1))
            if rnd >= 2 and following is not None:
                on, off = (current, following) if current[0] else (following, current)
                logs.append(math.log(on[index] / off[index]))
    return math.exp(statistics.fmean(logs)) - 1.0, statistics.stdev(logs) / math.sqrt(len(logs)), len(logs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "runners" / "configs" / "smoke.yaml")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per run (default 8)")
    parser.add_argument("--repeats", type=int, default=2, help="runs, alternating the on/off phase (default 2)")
    parser.add_argument("--variant", choices=("default", "sampler"), default="default")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    if args.rounds < 3 or args.repeats < 2:
        parser.error("need --rounds >= 3 and --repeats >= 2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    base = load_config(args.config)
    runs = []
    with tempfile.TemporaryDirectory(prefix="edgebench-overhead-") as tmp:
        trace = Path(tmp) / "trace.csv"
        trace.write_text("seconds,watts\n0,5.0\n1,6.0\n2,5.0\n")
        config = _config(base, args.variant, trace, args.rounds)
        for n in range(args.repeats):
            result = _run(config, Path(tmp) / f"run{n}", phase=n % 2)
            runs.append(result)
            print(f"  run {n} (phase {n % 2}): {result['wall_s']:.1f} s, energy source {result['energy']}", flush=True)

    wall, wall_se, pairs = _ab(runs, 1)
    cpu, cpu_se, _ = _ab(runs, 2)
    on_wall_s = sum(v[1] for r in runs for v in r["rounds"].values() if v[0])
    summary = {
        "config": str(args.config),
        "variant": args.variant,
        "energy_source": runs[0]["energy"],
        "rounds": args.rounds,
        "repeats": args.repeats,
        "pairs": pairs,
        "wall_overhead": wall,
        "wall_overhead_stderr": wall_se,
        "cpu_overhead": cpu,
        "cpu_overhead_stderr": cpu_se,
        "self_timed_overhead": sum(r["overhead_s"] for r in runs) / on_wall_s,
        "sampler_cpu_share": sum(r["sampler_cpu_s"] for r in runs) / on_wall_s,
        "round_wall_s_median": statistics.median(v[1] for r in runs for v in r["rounds"].values()),
        "load_average": os.getloadavg(),
    }
    print(
        f"profiler overhead ({args.variant}; energy source {summary['energy_source']}); {pairs} adjacent on/off "
        f"round pairs; median round {summary['round_wall_s_median']:.3f} s; load average "
        f"{summary['load_average'][0]:.2f} on {os.cpu_count()} CPUs\n"
        f"  wall time per round: {100 * wall:+.2f} % +- {100 * wall_se:.2f} % (1 s.e.)\n"
        f"  CPU time per round:  {100 * cpu:+.2f} % +- {100 * cpu_se:.2f} % (1 s.e.)\n"
        f"  self-timed window-edge cost: {100 * summary['self_timed_overhead']:.3f} % of profiled round time"
        + (
            f"\n  sampler process CPU: {100 * summary['sampler_cpu_share']:.2f} % of one core during profiled rounds"
            if args.variant == "sampler"
            else ""
        )
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
