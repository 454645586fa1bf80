"""--force replaces only what bark-clone made: never '.', a folder above it, a symbolic link, or a folder holding
anything else; outputs are probed before the work (hardening, round three)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import read_only_place
from trained_voices import train_arguments


def foreign_folder(path: Path) -> Path:
    """A folder of someone else's files, one of them a voice.json that is not ours alone."""
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    (path / "voice.json").write_text("{}")
    return path


def untouched(path: Path, names: set[str]) -> bool:
    return path.is_dir() and {entry.name for entry in path.iterdir()} == names


def test_train_voice_never_empties_the_current_folder_or_its_parents(run_cli, tiny, arctic, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    shutil.copy(arctic, tmp_path / "me.wav")
    before = {entry.name for entry in tmp_path.iterdir()}
    for output in (".", "..", str(tmp_path)):
        result = run_cli(*train_arguments("me.wav", tiny, output, "--force"))
        assert result.exit_code == 1, result.output
        assert "current folder or one above it" in result.output and result.output.count("\n") == 1
        assert untouched(tmp_path, before)


def test_force_refuses_folders_with_other_files_and_links(run_cli, tiny, arctic, tmp_path):
    shutil.copy(arctic, tmp_path / "me.wav")
    other = foreign_folder(tmp_path / "other")
    (tmp_path / "link").symlink_to(other)
    result = run_cli(*train_arguments("me.wav", tiny, "other", "--force"))
    assert result.exit_code == 1 and "did not write as a voice; refusing to replace it even with --force" in \
        result.output
    result = run_cli(*train_arguments("me.wav", tiny, "other"))  # without --force: never told to pass --force
    assert result.exit_code == 1 and "--force" not in result.output
    result = run_cli(*train_arguments("me.wav", tiny, "link", "--force"))
    assert result.exit_code == 1 and "symbolic link" in result.output
    assert untouched(other, {"thesis.tex", "voice.json"}) and (tmp_path / "link").is_symlink()


@pytest.mark.parametrize("command", ["generate-data", "import-data", "train-quantizer", "evaluate", "search"])
def test_every_command_with_force_leaves_foreign_folders_alone(command, run_cli, tiny, arctic, tmp_path, generated,
                                                                model_args):
    other = foreign_folder(tmp_path / "other")
    shutil.copy(arctic, tmp_path / "me.wav")
    (tmp_path / "me.npz").write_bytes(a_prompt().npz_bytes())
    bark = ["--bark", str(tiny["bark"])]
    arguments = {
        "generate-data": ["generate-data", "--out", "other", "--samples", "2", *bark, "--device", "cpu"],
        "import-data": ["import-data", str(generated), "--out", "other"],
        "train-quantizer": ["train-quantizer", "--data", str(generated), "--out", "other", "--hubert",
                            str(tiny["hubert"]), "--device", "cpu"],
        "evaluate": ["evaluate", "me.npz", "--target", "me.wav", "--out", "other", *bark, "--device", "cpu"],
        "search": ["search", "me.wav", "-o", "other", "--voice", "missing-voice", "--work", "w", *bark, *model_args],
    }[command]
    for output in ("other", "."):
        swapped = [output if value == "other" else value for value in arguments]
        result = run_cli(*swapped, "--force")
        assert result.exit_code != 0, result.output
        assert "refusing to replace it" in result.output or "current folder" in result.output, result.output
    assert untouched(other, {"thesis.tex", "voice.json"})
    assert (tmp_path / "me.wav").exists() and not (tmp_path / "w").exists()


def test_a_read_only_voice_output_is_refused_before_any_work(arctic, tiny):
    with read_only_place(arctic) as (folder, run):
        arguments = train_arguments(folder / "me.wav", tiny, str(folder / "ro" / "voice"))
        arguments[arguments.index("--bark") + 1] = "/nonexistent/bark"  # refused before any model is looked at
        result = run(arguments)
        assert result.returncode == 1 and result.stderr.startswith(f"error: cannot write into folder {folder / 'ro'}")
        assert result.stderr.count("\n") == 1


def test_split_onto_the_output_is_refused_before_speaking(run_cli, tmp_path):
    (tmp_path / "alice.npz").write_bytes(a_prompt().npz_bytes())
    (tmp_path / "play.txt").write_text("alice: Hello there.\n")
    for split in ("play.wav", "play.json"):
        result = run_cli("speak", "--script", "play.txt", "--voice", "alice=alice.npz", "-o", "play.wav",
                         "--split", split, "--bark", "/nonexistent/bark")
        assert result.exit_code == 1 and "would write over -o play.wav" in result.output, result.output
    assert {entry.name for entry in tmp_path.iterdir()} == {"alice.npz", "play.txt"}


def a_prompt():
    import numpy as np

    from bark_clone.prompting.format import SpeakerPrompt

    rng = np.random.default_rng(0)
    fine = rng.integers(0, 1024, (8, 300))
    return SpeakerPrompt(rng.integers(0, 10_000, 200), fine[:2].copy(), fine)


def test_server_lists_speakers_beside_stray_folders(client, config):
    """A folder named like a sidecar (or a prompt) is not a speaker's file: the list stays whole, start-up too."""
    from bark_clone.server.speakers import SpeakerFolder

    root = Path(config.speakers)
    (root / "frank.npz").write_bytes(a_prompt().npz_bytes())
    (root / "frank.json").mkdir()
    (root / "ghost.npz").mkdir()
    (root / "orphan.json").mkdir()
    answer = client.get("/speakers")
    assert answer.status_code == 200, answer.text
    assert [speaker["name"] for speaker in answer.json()["speakers"]] == ["frank"]
    assert client.get("/speakers/frank").status_code == 200
    SpeakerFolder(root).repair()  # a folder named like an orphan sidecar is not ours to remove, and no crash
    assert (root / "orphan.json").is_dir()


def test_deleting_a_linked_voice_folder_removes_the_link_only(tmp_path):
    """A voice folder linked into the speakers folder: DELETE removes the link, never the folder it points to."""
    from bark_clone.server.speakers import SpeakerFolder

    elsewhere = tmp_path / "elsewhere" / "voice"
    elsewhere.mkdir(parents=True)
    (elsewhere / "voice.json").write_text("{}")
    (elsewhere / "prompt.npz").write_bytes(a_prompt().npz_bytes())
    folder = SpeakerFolder(tmp_path / "speakers")
    (tmp_path / "speakers" / "linked").symlink_to(elsewhere)
    folder.delete("linked")
    assert not (tmp_path / "speakers" / "linked").exists() and (elsewhere / "voice.json").is_file()


def test_deleting_a_voice_folder_holding_other_files_is_refused(tmp_path):
    from bark_clone.errors import ApiError
    from bark_clone.server.speakers import SpeakerFolder

    folder = SpeakerFolder(tmp_path / "speakers")
    voice = tmp_path / "speakers" / "mixed"
    voice.mkdir()
    (voice / "voice.json").write_text("{}")
    (voice / "prompt.npz").write_bytes(a_prompt().npz_bytes())
    (voice / "diary.txt").write_text("mine")
    with pytest.raises(ApiError) as refused:
        folder.delete("mixed")
    assert refused.value.status == 409 and (voice / "diary.txt").read_text() == "mine"
