"""Queue files are judged before they are read: one over the size limit is refused from its size alone (a 400 MB
file costs no memory), and a link leading out of the queue folder is refused, never read as an item."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot import queue
from bot.frontmatter import MAX_FILE_BYTES
from bot.settings import Settings

from .conftest import BASE

ITEM = "---\ntitle: {title}\ndate: 2019-07-12\nsummary: Something happened.\n---\n"
# Runs `bot validate` in a child of its own and prints that child's peak resident memory, in kB (Linux).
MEASURE = ("import json, resource, subprocess, sys\n"
           "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
           "print(json.dumps({'peak_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,\n"
           "                  'code': done.returncode, 'out': done.stdout, 'err': done.stderr}))\n")


def validate_peak(queue_dir: Path, state: Path) -> dict[str, object]:
    env = dict(os.environ, **BASE, BOT_QUEUE_DIR=str(queue_dir), BOT_STATE_DIR=str(state))
    command = [sys.executable, "-c", MEASURE, sys.executable, "-m", "bot", "--env-file", "/dev/null", "validate"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def test_a_400_mb_queue_file_is_refused_from_its_size_without_reading_it(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    (small / "fine.md").write_text(ITEM.format(title="Fine"), encoding="utf-8")
    baseline = validate_peak(small, tmp_path / "var")

    huge = tmp_path / "huge"
    huge.mkdir()
    (huge / "fine.md").write_text(ITEM.format(title="Fine"), encoding="utf-8")
    big = huge / "huge.md"
    with open(big, "wb") as handle:  # sparse: 400 MB long, no disk used
        handle.write(ITEM.format(title="Huge").encode())
        handle.truncate(400_000_000)
    (huge / "campaigns.yaml").write_bytes(b"")
    os.truncate(huge / "campaigns.yaml", 400_000_000)
    measured = validate_peak(huge, tmp_path / "var")

    print(f"\nbot validate peak RSS: {baseline['peak_kb']} kB with one small file, {measured['peak_kb']} kB "
          "with a 400 MB item and a 400 MB campaigns.yaml beside it")
    assert measured["code"] == 1
    lines = str(measured["out"]).splitlines()
    assert f"{big}: file: is 400,000,000 bytes; a queue file may be at most {MAX_FILE_BYTES:,}" in lines
    assert f"{huge / 'campaigns.yaml'}: file: is 400,000,000 bytes; a queue file may be at most " \
           f"{MAX_FILE_BYTES:,}" in lines
    assert "1 valid" in str(measured["out"])  # the summary, after the problems
    # Nothing of the file was read: the peak is that of validating one small file, give or take a few MB.
    assert int(str(measured["peak_kb"])) < int(str(baseline["peak_kb"])) + 20_000


def test_a_link_out_of_the_queue_folder_is_refused_and_never_read(settings: Settings, queue_dir: Path) -> None:
    outside = settings.queue_dir.parent / "elsewhere"
    outside.mkdir()
    (outside / "private.md").write_text(ITEM.format(title="A draft kept out of the queue"), encoding="utf-8")
    (outside / "campaigns.yaml").write_text("Secret:\n  name: Not ours\n  hashtags: [x]\n  start: 2019-01-01\n"
                                            "  end: 2019-12-31\n", encoding="utf-8")
    (queue_dir / "leak.md").symlink_to(outside / "private.md")
    (queue_dir / "campaigns.yaml").symlink_to(outside / "campaigns.yaml")
    (queue_dir / "folder").symlink_to(outside, target_is_directory=True)  # not walked into at all
    (queue_dir / "fine.md").write_text(ITEM.format(title="Fine"), encoding="utf-8")
    (queue_dir / "inside.md").symlink_to(queue_dir / "fine.md")  # a link within the queue is only another name

    result = queue.load(settings)

    assert sorted(i.id for i in result.items) == ["fine", "inside"]
    assert result.campaigns == {}
    found = {(Path(p.path).name, p.field, p.message) for p in result.problems}
    why = "is a link to a file outside the queue folder: copy the file into the queue instead"
    assert found == {("leak.md", "file", why), ("campaigns.yaml", "file", why)}
    assert all("Not ours" not in str(p) and "A draft kept out" not in str(p) for p in result.problems)
