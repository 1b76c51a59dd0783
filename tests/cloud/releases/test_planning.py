"""The order a rollout takes its boxes in: spread by a hash, doors after everything else."""

from __future__ import annotations

from cloud.releases.planning import stage_order


def test_doors_come_after_every_other_box() -> None:
    hubs = [f"hub-{n:02d}" for n in range(20)]
    doors = [f"door-{n:02d}" for n in range(5)]
    order = stage_order("ro-1", doors + hubs, last=set(doors))
    assert set(order[:20]) == set(hubs)
    assert set(order[20:]) == set(doors)


def test_the_order_is_a_spread_that_each_rollout_draws_again() -> None:
    boxes = [f"hub-{n:02d}" for n in range(30)]
    first, again = stage_order("ro-1", boxes), stage_order("ro-1", list(reversed(boxes)))
    assert first == again  # the same whenever it is computed
    assert first != sorted(boxes)  # not the first venue's boxes first
    assert stage_order("ro-2", boxes)[0] != first[0] or stage_order("ro-3", boxes)[0] != first[0]


def test_a_target_of_only_doors_still_has_a_canary() -> None:
    doors = ["door-a", "door-b", "door-c"]
    assert sorted(stage_order("ro-1", doors, last=set(doors))) == doors
