"""Two CPU processes with the gloo backend train a tiny model through our DDP helpers and end identical."""

import os
import socket

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from core.training import distributed as d

    assert d.init_from_env(backend="gloo") and d.world_size() == world
    with torch.random.fork_rng():
        torch.manual_seed(100 + rank)           # different init per rank: DDP must broadcast rank 0's
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    net = d.wrap_model(model, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x[:, 0] > 0).long()
    ds = torch.utils.data.TensorDataset(x, y)
    sampler = d.train_sampler(ds, seed=0)
    assert type(sampler).__name__ == "DistributedSampler"
    loader = torch.utils.data.DataLoader(ds, batch_size=8, sampler=sampler)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    seen = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            seen.append(xb.sum().item())
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xb), yb).backward()
            opt.step()
    decision = d.broadcast_object({"stop": rank == 0, "rank": rank})
    torch.save({"params": {k: v.detach().clone() for k, v in model.state_dict().items()},
                "seen": seen, "decision": decision}, os.path.join(out_dir, f"rank{rank}.pt"))
    d.barrier()
    d.cleanup()


def test_two_gloo_ranks_end_with_identical_parameters(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["params"].keys() == r1["params"].keys()
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k
    assert r0["seen"] != r1["seen"]                     # each rank trained on its own shard
    assert r0["decision"] == r1["decision"] == {"stop": True, "rank": 0}


def test_not_distributed_without_torchrun_env(monkeypatch):
    from core.training import distributed as d

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert d.init_from_env() is False
    assert d.rank() == 0 and d.world_size() == 1 and d.is_main()
    model = torch.nn.Linear(2, 2)
    assert d.wrap_model(model, torch.device("cpu")) is model
    assert d.broadcast_object({"a": 1}) == {"a": 1}
