"""A Hugging Face ``TrainerCallback`` that measures a ``Trainer`` with :class:`edgebench.Monitor`.

One window per epoch (``epoch-<k>``), per `every_n_steps` optimizer steps (``steps-<first global step>``;
its `num_steps` cell says how many; a group is cut short by its epoch's end or by an evaluation, so that
it never includes one) and per evaluation during training (``eval-<global step>``). The
Trainer has no "evaluation begins" event: an evaluation window opens at the step or epoch end whose
``control.should_evaluate`` the Trainer's flow set, and closes at ``on_evaluate``; it covers the logging
the Trainer does just before evaluating. Wrap a direct ``trainer.evaluate()`` call in
``monitor.window(...)`` yourself.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from edgebench.api.monitor import Monitor
from edgebench.api.record import WindowMeasurement


class EdgebenchCallback(TrainerCallback):
    """Records edgebench windows around a Trainer's epochs, step groups and evaluations.

    `monitor`: the monitor to use (default: a new ``Monitor(**monitor_kwargs)``, started when training
    begins and closed when it ends, e.g. ``csv="windows.csv"``). `every_n_steps`: also one window per
    that many optimizer steps (None: none). `epochs`, `evaluations`: whether to record those windows.
    The finished windows are in :attr:`windows`, in the order they ended.
    """

    def __init__(
        self,
        monitor: Monitor | None = None,
        *,
        every_n_steps: int | None = None,
        epochs: bool = True,
        evaluations: bool = True,
        **monitor_kwargs: Any,
    ) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        if monitor is not None and monitor_kwargs:
            raise TypeError(f"pass either a monitor or Monitor arguments ({', '.join(monitor_kwargs)}), not both")
        self.monitor = monitor if monitor is not None else Monitor(**monitor_kwargs)
        self._owns_monitor = monitor is None
        self.every_n_steps = every_n_steps
        self.epochs = epochs
        self.evaluations = evaluations
        self.windows: list[WindowMeasurement] = []
        self._first_step: dict[str, int] = {}  # open window -> global step before it began
        self._records: dict[str, WindowMeasurement] = {}

    # -- helpers ---------------------------------------------------------------------------------
    def _begin(self, name: str, state: TrainerState) -> None:
        self._records[name] = self.monitor.begin_window(name)
        self._first_step[name] = state.global_step

    def _end(self, name: str, state: TrainerState, count_steps: bool = True) -> None:
        first = self._first_step.pop(name)
        if count_steps:  # before the window ends, so that the monitor's CSV row has it
            self._records[name].update(num_steps=state.global_step - first)
        del self._records[name]
        self.windows.append(self.monitor.end_window(name))

    def _open(self, prefix: str) -> str | None:
        return next((n for n in self._first_step if n.startswith(prefix)), None)

    def _maybe_begin_eval(self, state: TrainerState, control: TrainerControl) -> None:
        if self.evaluations and control.should_evaluate:
            self._begin(f"eval-{state.global_step}", state)

    # -- Trainer events --------------------------------------------------------------------------
    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.monitor.start()
        if self.evaluations and args.eval_on_start:
            self._begin(f"eval-{state.global_step}", state)

    def on_epoch_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.epochs:
            # state.epoch is fractional when training resumed mid-epoch: that epoch is still floor(epoch) + 1
            self._begin(f"epoch-{math.floor((state.epoch or 0) + 1e-6) + 1}", state)

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.every_n_steps and self._open("steps-") is None:
            self._begin(f"steps-{state.global_step + 1}", state)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        steps = self._open("steps-")
        if steps is not None and self.every_n_steps is not None:
            done = state.global_step - self._first_step[steps]
            evaluating = self.evaluations and control.should_evaluate
            if done >= self.every_n_steps or state.global_step >= state.max_steps or evaluating:
                self._end(steps, state)
        self._maybe_begin_eval(state, control)

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        steps = self._open("steps-")
        if steps is not None and self.epochs:  # a step group ends with its epoch (windows nest)
            self._end(steps, state)
        epoch = self._open("epoch-")
        if epoch is not None:
            self._end(epoch, state)
        self._maybe_begin_eval(state, control)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        evaluation = self._open("eval-")
        if evaluation is not None:
            self._end(evaluation, state, count_steps=False)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        for name in reversed(list(self._first_step)):  # innermost first
            self._end(name, state, count_steps=not name.startswith("eval-"))
        if self._owns_monitor:
            self.monitor.close()
