"""The bench's verdicts and its table: every target a ratio of two numbers from the same run; rows that were not
run (``--rows``) are left out."""

from __future__ import annotations


def targets(results: dict, device) -> list[dict]:
    """Every target whose row was measured: a ratio of two numbers from this run, and whether it is met."""
    checks = []
    for row in results.get("make_speaker", {}).get("rows", []):
        checks.append({"measure": f"make-speaker warm / bare passes ({row['speech_seconds']} s of speech)",
                       "value": row["warm_over_bare"], "target": "<= 1.25", "met": row["warm_over_bare"] <= 1.25})
        checks.append({"measure": f"cold CLI / warm ({row['speech_seconds']} s of speech)",
                       "value": row["cold_over_warm"], "target": "<= 4", "met": row["cold_over_warm"] <= 4})
    if "long_inputs" in results:
        checks += long_input_targets(results["long_inputs"]["rows"])
    if "training" in results:
        wanted = 10.0 if device.type == "cuda" else 1.3
        checks.append({"measure": f"training throughput, {device.type}, v1 shape / reference loop",
                       "value": results["training"]["v1_speedup"], "target": f">= {wanted}",
                       "met": results["training"]["v1_speedup"] >= wanted})
    if "generation" in results:
        checks.append({"measure": "batched / sequential data generation (tiny Bark)",
                       "value": results["generation"]["speedup"], "target": ">= 4",
                       "met": results["generation"]["speedup"] >= 4})
    if "bark" in results:
        checks += engine_targets(results["bark"])
    if "engine" in results:
        from bench_engine import engine_targets as batching_targets

        checks += batching_targets(results["engine"])
    if "search_batching" in results:
        row = results["search_batching"]
        checks.append({"measure": "search scoring, all candidates in one batch / one generation "
                       "per candidate before the engine", "value": row["speedup"], "target": ">= 2",
                       "met": row["speedup"] >= 2})
    for row in results.get("voice_memory", {}).get("rows", []):
        if row["size"] == "bark" and "gpu_peak_mb" in row:  # printed only where a GPU measured it
            checks.append({"measure": f"train-voice {row['stage']} on suno/bark's size, {row['dtype']}, batch "
                           f"{row['batch']}: peak GPU MB / 8 GB", "value": row["gpu_peak_mb"] / 8192,
                           "target": "<= 1", "met": row["gpu_peak_mb"] <= 8192})
    if "voice_generation" in results:
        ratio = results["voice_generation"]["ratio"]
        checks.append({"measure": "generation with a merged voice adapter / without", "value": ratio,
                       "target": "within 5 %", "met": abs(ratio - 1) <= 0.05})
    return checks


def long_input_targets(long_rows: list[dict]) -> list[dict]:
    checks = []
    pair = next((row for row in long_rows if row["input_ratio"] == 10), long_rows[-1])
    checks.append({"measure": f"{pair['minutes']} min vs {long_rows[0]['minutes']} min: time", "value":
                   pair["time_ratio"], "target": f"<= {1.1 * pair['input_ratio']:.1f}",
                   "met": pair["time_ratio"] <= 1.1 * pair["input_ratio"]})
    checks.append({"measure": f"{pair['minutes']} min vs {long_rows[0]['minutes']} min: peak RSS",
                   "value": pair["rss_ratio"], "target": "<= 1.5", "met": pair["rss_ratio"] <= 1.5})
    return checks


def print_table(results: dict) -> None:
    print(f"\nmachine: {results['machine']}\n")
    if "make_speaker" in results:
        print_make_speaker(results["make_speaker"]["rows"])
    if "long_inputs" in results:
        print("\nlong inputs (fresh process each)   work s   RSS MB   time x   RSS x")
        for row in results["long_inputs"]["rows"]:
            print(f"  {row['minutes']:>5} min                      {row['work_seconds']:7.2f} "
                  f"{row['peak_rss_mb']:8.0f} {row['time_ratio']:7.2f} {row['rss_ratio']:7.2f}")
    for key, line in ROW_LINES.items():
        if key in results:
            print(line(results[key]))
    if "bark" in results:
        print_bark(results["bark"])
    if "precision" in results:
        print_precision(results["precision"])
    if "voice_training" in results:
        print_voice_training(results["voice_training"])
    if "voice_memory" in results:
        print_voice_memory(results["voice_memory"]["rows"])
    if "decoders" in results:
        from bench_decoders import print_decoders

        print_decoders(results["decoders"])
    if "engine" in results:
        from bench_engine import print_engine

        print_engine(results["engine"])
    for check in results["targets"]:
        print(f"  {'met ' if check['met'] else 'MISS'} {check['measure']}: {check['value']:.2f} (target "
              f"{check['target']})")


def print_make_speaker(rows: list[dict]) -> None:
    print("make-speaker (warm, seconds; median)        hubert  quant  encodec  other  total  bare  ratio  cold  RSS MB")
    for row in rows:
        print(f"  {row['speech_seconds']:>4} s of speech ({row['window_seconds']:>5} s window)         "
              f"{row['hubert']:6.2f} {row['quantizer']:6.2f} {row['encodec']:8.2f} {row['other']:6.2f} "
              f"{row['warm_total']:6.2f} {row['bare']:5.2f} {row['warm_over_bare']:6.2f} {row['cold_cli']:5.1f} "
              f"{row['peak_rss_mb']:7.0f}")


ROW_LINES = {
    "training": lambda row: (f"\ntraining frames/s: reference v1 {row['reference_v1']:.0f}, ours v1 "
                             f"{row['ours_v1']:.0f} ({row['v1_speedup']:.2f}x), ours context "
                             f"{row['ours_context']:.0f} ({row['context_speedup']:.2f}x)"),
    "generation": lambda row: (f"data generation (audio s per s): batched {row['batched_audio_per_second']:.2f}, "
                               f"sequential {row['sequential_audio_per_second']:.2f} ({row['speedup']:.2f}x, "
                               f"{row['model']})"),
    "long_form": lambda row: (f"long-form speak, {row['chunks']} chunks (audio s per s): batched "
                              f"{row['batched_audio_per_second']:.2f}, chunk by chunk "
                              f"{row['sequential_audio_per_second']:.2f} ({row['speedup']:.2f}x, {row['model']})"),
    "evaluate": lambda row: path_line("evaluate", row),
    "refine": lambda row: path_line("make-speaker --refine", row),
    "search_scoring": lambda row: path_line("search scoring", row),
    "search_batching": lambda row: (f"search scoring, {row['model']} ({row['candidates']} candidates x "
                                    f"{row['sentences']} sentences), candidates per minute: all in one engine batch "
                                    f"{row['batched_per_minute']:.2f}, one transformers generation per candidate "
                                    f"{row['before_per_minute']:.2f} ({row['speedup']:.2f}x)"),
    "streaming": lambda row: "\n".join(
        f"streamed speech, {line['chunks']} chunks, {line['model']}: first audio after "
        f"{line['streamed']['first_audio_seconds']:.1f} s streamed against {line['whole']['first_audio_seconds']:.1f} s "
        f"for the whole file ({line['first_audio_ratio']:.2f}x); the whole {line['streamed']['whole_seconds']:.1f} s "
        f"against {line['whole']['whole_seconds']:.1f} s ({line['whole_ratio']:.2f}x)" for line in row["rows"]),
}


def path_line(path: str, row: dict) -> str:
    return (f"{path}: {row['unit']} per minute, every row in one generation {row['batched_per_minute']:.1f}, one "
            f"row a generation {row['one_at_a_time_per_minute']:.1f} ({row['speedup']:.2f}x, {row['model']})")


def engine_targets(bark: dict) -> list[dict]:
    """The engine's targets: ratios of totals (seconds per stage summed) from this run."""
    batch, checks = bark["batch"], []
    full = f"batch_{batch}"

    def seconds(dtype, path, mode):
        return bark["dtypes"][dtype][path][mode]["total"]

    if "bfloat16" in bark["dtypes"]:
        value = seconds("bfloat16", "transformers", full) / seconds("bfloat16", "engine", full)
        checks.append({"measure": f"bfloat16, batch {batch}, end to end: transformers' path / the engine",
                       "value": value, "target": ">= 2", "met": value >= 2})
    for peer, mode in (("transformers", "batch_1"), ("suno", "batch_1"), ("transformers", full)):
        value = seconds("float32", peer, mode) / seconds("float32", "engine", mode)
        checks.append({"measure": f"float32, {mode.replace('_', ' ')}: {peer} / the engine", "value": value,
                       "target": ">= 1", "met": value >= 1})
    return checks


def print_bark(row: dict) -> None:
    print(f"\nBark generation, {row['model']}: {row['semantic_tokens']} semantic tokens a row; seconds per stage")
    print("  dtype     path                                mode      semantic   coarse     fine   decode    total  "
          "audio s/s")
    for dtype, paths in row["dtypes"].items():
        if "gpu_peak_mb" in paths:
            print(f"  {dtype}: peak GPU memory over every path {paths['gpu_peak_mb']} MB")
        for path, modes in paths.items():
            if not isinstance(modes, dict):
                continue
            for mode, times in modes.items():
                stages = " ".join(f"{times[stage]:8.2f}" for stage in ("semantic", "coarse", "fine", "decode"))
                print(f"  {dtype:9s} {path:35s} {mode:8s} {stages} {times['total']:8.2f} "
                      f"{times['audio_per_second']:9.3f}")
    roof = row["roofline"]
    print(f"  roofline: matmul {roof['matmul_gflops']} GFLOP/s, memory {roof['memory_gb_per_s']} GB/s; the engine's "
          f"batch-{row['batch']} stages: " + "; ".join(
              f"{dtype} " + ", ".join(f"{stage} {share['gflops']} GFLOP/s "
                                      f"({100 * (share['share_of_matmul_rate'] or 0):.0f} %)"
                                      for stage, share in stages.items())
              for dtype, stages in row["shares"].items()) + "\n")


def print_precision(row: dict) -> None:
    print(f"Bark per dtype on {row['device']} ({row['model']}): batch {row['batch']} x {row['generation_tokens']} "
          "tokens; peak memory in fresh processes (MB)")
    print("  dtype      audio s/s   speak RSS (over load)   search RSS (over load)   GPU peak speak / search")
    for entry in row["dtypes"]:
        gpu = (f"{entry['speak_gpu_peak_mb']} / {entry['search_gpu_peak_mb']}" if "speak_gpu_peak_mb" in entry
               else "no GPU here: not measured")
        print(f"  {entry['dtype']:9s} {entry['audio_per_second']:10.3f}   {entry['speak_rss_mb']:7d} "
              f"({entry['speak_over_load_mb']:+5d})        {entry['search_rss_mb']:7d} "
              f"({entry['search_over_load_mb']:+5d})         {gpu}")
    print()


def print_voice_training(row: dict) -> None:
    print("\nvoice adapters (LoRA rank 16), training   tokens/s   min per epoch of 3 min of speech")
    for stage in ("coarse", "fine"):
        for dtype in ("float32", "bfloat16"):
            print(f"  {stage:6s} {dtype:8s}                     {row[f'{stage}_{dtype}_tokens_per_second']:9.1f} "
                  f"{row[f'{stage}_{dtype}_minutes_per_epoch']:9.1f}")


def print_voice_memory(rows: list[dict]) -> None:
    print("\nvoice adapters, one training step in a fresh process   peak RSS MB (over load)   peak GPU MB")
    for row in rows:
        gpu = row.get("gpu_peak_mb", "no GPU here: not measured")
        print(f"  {row['size']:10s} {row['stage']:6s} {row['dtype']:8s} batch {row['batch']}        "
              f"{row['rss_mb']:7d} ({row['over_load_mb']:+6d})        {gpu}")
