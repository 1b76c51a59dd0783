"""Which boxes a rollout takes, and in which stage each goes: plain functions, no database."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cloud.releases.errors import ReleasesError
from cloud.releases.settings import StageSpec


@dataclass(frozen=True, slots=True)
class PlannedStage:
    devices: int  # boxes this stage adds
    soak_s: float


def stage_order(
    rollout_id: str, device_ids: Sequence[str], *, last: Collection[str] = ()
) -> list[str]:
    """The boxes in the order the stages take them.

    Hashed with the rollout's id: a spread over venues rather than the first venue's boxes
    first, different for each rollout (one venue is not every canary), and the same whenever
    it is computed again. The boxes in ``last`` (doors: a door on a bad release shuts people
    out until it rolls back) come after all others, so the early stages, canaries included,
    are hubs and kiosks whenever the target has enough of them.
    """

    def rank(device: str) -> tuple[bool, str]:
        spread = hashlib.sha256(f"{rollout_id}\x00{device}".encode()).hexdigest()
        return device in last, spread

    return sorted(device_ids, key=rank)


def plan_stages(specs: Sequence[StageSpec], total: int) -> list[PlannedStage]:
    """How many boxes each stage adds for ``total`` boxes; a stage that would add none goes.

    ``count`` adds that many boxes; ``percent`` brings the boxes sent so far up to that share
    of the target, rounded up. The stages must reach every box: a rollout with boxes left
    over would never finish.
    """
    planned: list[PlannedStage] = []
    sent = 0
    for spec in specs:
        if spec.count is not None:
            reach = sent + spec.count
        else:
            assert spec.percent is not None  # StageSpec holds exactly one
            reach = math.ceil(total * spec.percent / 100 - 1e-9)
        reach = min(reach, total)
        if reach > sent:
            planned.append(PlannedStage(devices=reach - sent, soak_s=spec.soak_s))
            sent = reach
    if sent < total:
        raise ReleasesError(
            422,
            code="stages_incomplete",
            message=f"the stages reach {sent} of the {total} boxes targeted; end with a stage "
            'of {"percent": 100}',
        )
    return planned


def stage_of(index: int, stages: Sequence[PlannedStage]) -> int:
    """The stage of the box at ``index`` in :func:`stage_order`."""
    reach = 0
    for number, stage in enumerate(stages):
        reach += stage.devices
        if index < reach:
            return number
    raise ValueError(f"box {index} is past the planned stages")
