"""The service row of scripts/bench.py: the server under load, as clients meet it over HTTP (a live uvicorn on the
loopback address). 8 clients with 8 different speakers (two of them voice folders with adapters) at once, against
the same requests one after another on a server that runs one job at a time (today's); the engine's own gain from
batch 1 to batch 8 on the same rows, for the share of it the service keeps; staggered streamed arrivals (time to
first audio); 50 clients at once against a queue of 8 (every request answered, memory afterwards)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

from bark_clone.options import BarkOptions, ModelSources

TEXTS = ["The keeper climbed the stairs at dusk.", "He lit the lamp and watched the sea.",
         "A ship passed far out in the fog.", "The bell rang twice across the bay.",
         "Gulls circled the rocks below the tower.", "The wind rose and the shutters rattled.",
         "Morning came grey over the harbour.", "The boats went out before the tide."]


def synthetic_voice(folder: Path, bark_folder: Path, prompt, seed: int) -> None:
    """A voice folder as train-voice writes it, its adapters random (the bench measures speed, not the voice)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from bark_clone.bark.core import load_bark
    from bark_clone.files import json_bytes
    from bark_clone.voices.adapters import LORA_TARGETS
    from bark_clone.voices.folder import STAGES, VOICE_FORMAT, VOICE_FORMAT_VERSION
    from bark_clone.voices.switch import base_fingerprints, stage_sha256

    bark = load_bark(str(bark_folder), "cpu")
    document = {"format": VOICE_FORMAT, "format_version": VOICE_FORMAT_VERSION, "stages": list(STAGES),
                "base": {"bark": str(bark_folder), "stage_sha256": stage_sha256(bark),
                         "stage_sha256_by_dtype": base_fingerprints(bark)}}
    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    for stage, attribute in STAGES.items():
        wrapped = get_peft_model(getattr(bark.model, attribute), LoraConfig(r=4, lora_alpha=4, lora_dropout=0.0,
                                                                            target_modules=list(LORA_TARGETS)))
        for name, parameter in wrapped.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(parameter, std=0.01)
        wrapped.save_pretrained(str(folder / stage))
    prompt.save(folder / "prompt.npz")
    (folder / "voice.json").write_bytes(json_bytes(document))


def speakers_folder(root: Path, bark_folder: Path, voice_folders: int = 2) -> list[str]:
    """8 speakers: prompts and ``voice_folders`` voice folders (the last ones); returns their names."""
    from bark_clone.prompting.format import SpeakerPrompt

    rng = np.random.default_rng(0)
    names = []
    for index in range(8):
        prompt = SpeakerPrompt.from_streams(rng.integers(0, 10_000, 150), rng.integers(0, 1024, (8, 225)))
        name = f"speaker{index}"
        if index >= 8 - voice_folders:
            synthetic_voice(root / name, bark_folder, prompt, index)
        else:
            prompt.save(root / f"{name}.npz")
        names.append(name)
    return names


@contextlib.contextmanager
def served(models_paths, folder: Path, workers: int, queue_size: int = 16):
    """A live server on the loopback address: (its base URL, its model hub)."""
    from support import serving

    from bark_clone.server.app import create_app
    from bark_clone.server.service import ModelHub, ServiceConfig

    config = ServiceConfig(speakers=folder,
                           bark=BarkOptions(source=str(models_paths["bark"]), device="cpu", dtype="float32"),
                           models=ModelSources(hubert=str(models_paths["hubert"]), encodec=str(models_paths["encodec"]),
                                               quantizer=str(models_paths["v0"])),
                           workers=workers, queue_size=queue_size, batch_size=8, check_words=False)
    hub = ModelHub(config)
    with serving(create_app(config, hub)) as base:
        yield base, hub


def ask(base: str, name: str, text: str, stream: bool = False) -> dict:
    import httpx

    started = time.perf_counter()
    first = None
    with httpx.stream("POST", f"{base}/speak", json={"name": name, "text": text, "stream": stream},
                      timeout=3600) as reply:
        data = b""
        for part in reply.iter_raw():
            first = first if first is not None else time.perf_counter() - started
            data += part
    return {"status": reply.status_code, "seconds": time.perf_counter() - started, "first": first,
            "retry_after": reply.headers.get("retry-after"), "bytes": len(data)}


def fresh_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".cache"))
    return target


def clients_at_once(models_paths, speakers: Path, names: list[str], work: Path, workers: int) -> dict:
    with served(models_paths, fresh_copy(speakers, work / f"at-once-{workers}"), workers) as (base, hub):
        started = time.perf_counter()
        if workers == 1:  # today's server: one job at a time, so the requests come one after another
            answers = [ask(base, name, text) for name, text in zip(names, TEXTS)]
        else:
            with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
                answers = list(pool.map(lambda pair: ask(base, *pair), zip(names, TEXTS)))
        total = time.perf_counter() - started
    latencies = sorted(answer["seconds"] for answer in answers)
    batcher = hub.batcher()
    return {"total_seconds": total, "seconds_in_bark": batcher.busy_seconds, "generations": len(batcher.batches),
            "batches": batcher.batches,
            "rows": sum(map(sum, batcher.batches)), "p50_seconds": statistics.median(latencies),
            "p95_seconds": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
            "ok": sum(answer["status"] == 200 for answer in answers)}


def staggered(models_paths, speakers: Path, names: list[str], work: Path, workers: int, gap: float) -> list[float]:
    """One streamed client every ``gap`` seconds: each one's time to first audio."""
    with served(models_paths, fresh_copy(speakers, work / f"staggered-{workers}"), workers) as (base, _), \
            concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        futures = []
        for name, text in zip(names, TEXTS):
            futures.append(pool.submit(ask, base, name, text, True))
            time.sleep(gap)
        return [round(future.result()["first"], 3) for future in futures]


def rss_mb() -> float:
    """This process's resident memory now (the server runs in it), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fifty_clients(models_paths, speakers: Path, names: list[str], work: Path) -> dict:
    """50 clients at once against a queue of 8, twice: every request gets audio or a 429 with Retry-After, and
    the memory after the second burst is where the first left it (flat, not growing per burst)."""
    counts, memory = {"audio": 0, "busy_with_retry_after": 0, "other": 0}, {}
    with served(models_paths, fresh_copy(speakers, work / "fifty"), workers=8, queue_size=8) as (base, _), \
            concurrent.futures.ThreadPoolExecutor(50) as pool:
        ask(base, names[0], "Warm up.")
        memory["before_mb"] = round(rss_mb())
        for burst in (1, 2):
            answers = list(pool.map(lambda index: ask(base, names[index % 8], f"{TEXTS[index % 8]} {burst}-{index}."),
                                    range(50)))
            counts["audio"] += sum(a["status"] == 200 for a in answers)
            counts["busy_with_retry_after"] += sum(a["status"] == 429 and a["retry_after"] is not None
                                                   for a in answers)
            counts["other"] += sum(a["status"] not in (200, 429) for a in answers)
            memory[f"after_burst_{burst}_mb"] = round(rss_mb())
    return {"requests": 100, **counts, **memory}


def engine_gain(bark_folder: Path, names: list[str], speakers: Path) -> dict:
    """The engine alone on the same 8 rows (the prompts only): batch 1 against batch 8."""
    from bark_clone.bark.core import load_bark
    from bark_clone.bark.generation import generate
    from bark_clone.options import Sampling
    from bark_clone.voices.folder import open_speaker

    bark = load_bark(str(bark_folder), "cpu")
    rows = [(text, open_speaker(speakers / name if (speakers / name).is_dir() else speakers / f"{name}.npz")[0])
            for name, text in zip(names, TEXTS)]
    seconds = {}
    for size in (1, 8):
        started = time.perf_counter()
        generate(bark, rows, Sampling(), list(range(8)), size)
        seconds[size] = time.perf_counter() - started
    return {"batch_1_seconds": seconds[1], "batch_8_seconds": seconds[8], "gain": seconds[1] / seconds[8]}


def bench_service(models_paths, bark_folder: Path, label: str, work: Path, stagger_gap: float | None,
                  voice_folders: int = 2) -> dict:
    """One model size: the rows above, with their ratios (the staggered and 50-client parts only where
    ``stagger_gap`` is given: at bark-small size on a CPU they would take hours)."""
    speakers = work / f"speakers-{label}"
    speakers.mkdir(parents=True)
    names = speakers_folder(speakers, bark_folder, voice_folders)
    paths = {**models_paths, "bark": bark_folder}
    today, batched = (clients_at_once(paths, speakers, names, work / label, workers) for workers in (1, 8))
    engine = engine_gain(bark_folder, names, speakers)
    row = {"model": label, "voice_folders": voice_folders, "today": today, "batched": batched, "engine": engine,
           "speedup": today["total_seconds"] / batched["total_seconds"]}
    row["share_of_engine_gain"] = (row["speedup"] - 1) / max(engine["gain"] - 1, 1e-9)
    if stagger_gap is None:
        return row
    row["staggered_first_audio"] = {"today": staggered(paths, speakers, names, work / label, 1, stagger_gap),
                                    "batched": staggered(paths, speakers, names, work / label, 8, stagger_gap),
                                    "gap_seconds": stagger_gap}
    row["fifty_clients"] = fifty_clients(paths, speakers, names, work / label)
    return row


def bench_service_rows(models_paths, bark_folders: dict[str, tuple], work: Path) -> dict:
    """Each (label -> (Bark folder, stagger gap or None, voice folders among the 8 speakers))."""
    return {"rows": [bench_service(models_paths, folder, label, work, gap, voices)
                     for label, (folder, gap, voices) in bark_folders.items()]}
