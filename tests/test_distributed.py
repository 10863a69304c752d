"""utils/distributed.py: a process's DDP place is read from the environment when asked, not frozen at import."""

from __future__ import annotations

from utils import distributed


def test_rank_read_when_asked(monkeypatch):
    for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    assert (distributed.rank(), distributed.local_rank(), distributed.world_size()) == (-1, -1, 1)
    assert distributed.is_main_process()
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert (distributed.rank(), distributed.local_rank(), distributed.world_size()) == (3, 1, 4)
    assert not distributed.is_main_process()


def test_zero_first_needs_no_process_group_outside_ddp():
    """Without DDP (rank -1) the block just runs: no barrier, so no process group is needed."""
    ran = []
    with distributed.torch_distributed_zero_first(-1):
        ran.append(1)
    assert ran == [1]
