"""The ray row of scripts/bench.py: requests per second through Ray Serve's proxy with 1 and 2 replicas of the
service on this machine (a local Ray instance, tiny models), 16 short requests from 8 clients at once."""

from __future__ import annotations

import concurrent.futures
import socket
import time
from pathlib import Path

from bark_clone.options import BarkOptions, ModelSources


def requests_per_second(models_paths, speakers: Path, replicas: int, arctic: Path) -> dict:
    import httpx
    import ray
    from ray import serve

    from bark_clone.server.ray_serve import application
    from bark_clone.server.service import ServiceConfig

    config = ServiceConfig(speakers=speakers,
                           bark=BarkOptions(source=str(models_paths["bark"]), device="cpu", dtype="float32"),
                           models=ModelSources(hubert=str(models_paths["hubert"]), encodec=str(models_paths["encodec"]),
                                               quantizer=str(models_paths["v0"])),
                           workers=4, check_words=False)
    ray.init(include_dashboard=False, log_to_driver=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(application(config, replicas=replicas), name="bark-clone", route_prefix="/")
        base = f"http://127.0.0.1:{port}"
        if not (speakers / "alice.npz").exists():
            httpx.post(f"{base}/speakers", data={"name": "alice"}, files={"audio": ("a.wav", arctic.read_bytes())},
                       timeout=600).raise_for_status()
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: httpx.get(f"{base}/speak/alice", params={
                "text": f"Hello number {n} with {replicas} replicas."}, timeout=600), range(16)))
        seconds = time.perf_counter() - started
    finally:
        serve.shutdown()
        ray.shutdown()
    return {"replicas": replicas, "requests": 16, "ok": sum(answer.status_code == 200 for answer in answers),
            "seconds": seconds, "requests_per_second": 16 / seconds,
            "replicas_that_answered": len({answer.headers.get("x-replica") for answer in answers})}


def bench_ray(models_paths, work: Path, arctic: Path) -> dict:
    rows = [requests_per_second(models_paths, work / "ray-speakers", replicas, arctic) for replicas in (1, 2)]
    return {"rows": rows, "ratio_2_over_1": rows[1]["requests_per_second"] / rows[0]["requests_per_second"]}
