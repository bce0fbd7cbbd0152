"""The newsletter templates live at the top of the repository (templates/email/) and a wheel carries them: an
installed, non-editable Herald renders an edition from anywhere, and BOT_TEMPLATES_DIR still overrides them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import ROOT

# Run in a process of its own, from another folder, with only the installed copy of Herald importable: the
# editable install's finder (in this venv) and the repository are taken out of the way first.
RENDER = """
import json, sys
from datetime import UTC, date, datetime
from pathlib import Path
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path[:] = [sys.argv[1]] + [p for p in sys.path if p and p != sys.argv[2]]
import bot, herald_templates
from bot import render
from bot.content import Item
from bot.settings import load_settings

item = Item(id="x", path=Path("x.md"), title="A vote in Geneva", date=date(2019, 7, 12),
            summary="The Council voted.", body="Some **bold** words.",
            publish_at=datetime(2019, 7, 12, 9, tzinfo=UTC))
env = {"BOT_STATE_DIR": sys.argv[3], "BOT_QUEUE_DIR": sys.argv[3], "BOT_TEMPLATES_DIR": sys.argv[4]}
built_in = render.render_newsletter([item], load_settings(environ=dict(env, BOT_TEMPLATES_DIR=""), env_file=None),
                                    edition_date=date(2019, 7, 12), unsubscribe_url="https://example.org/u/T")
own = render.render_newsletter([item], load_settings(environ=env, env_file=None), edition_date=date(2019, 7, 12),
                               unsubscribe_url="https://example.org/u/T")
print(json.dumps({"bot": bot.__file__, "templates": herald_templates.__file__, "html": built_in.html,
                  "text": built_in.text, "own_text": own.text, "sys_path": sys.path}))
"""


def test_a_wheel_carries_the_templates_and_renders_from_anywhere(tmp_path: Path) -> None:
    assert (ROOT / "templates" / "email" / "newsletter.mjml.j2").is_file()
    assert not (ROOT / "bot" / "templates" / "email").exists()  # one source: the top-level folder
    source = tmp_path / "source"  # a copy, so that the build's own files stay out of the repository
    for name in ("bot", "templates"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", ".env.example"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, cwd=tmp_path, capture_output=True)
    wheel = next((tmp_path / "dist").glob("herald_bot-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"herald_templates/email/newsletter.mjml.j2", "herald_templates/email/newsletter.txt.j2",
            "bot/templates/preview/index.html.j2", "bot/env.example"} <= names
    # The packages are listed in pyproject.toml: a module of a new subpackage must not be left behind.
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "bot").rglob("*.py")}
    assert modules <= names, modules - names
    assert not any(n.startswith("bot/templates/email/") for n in names)

    target = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True,
                   capture_output=True)
    custom = tmp_path / "own" / "email"
    custom.mkdir(parents=True)
    shutil.copy(target / "herald_templates" / "email" / "newsletter.mjml.j2", custom)
    (custom / "newsletter.txt.j2").write_text("Our own: {{ title }}\n{{ unsubscribe_url }}\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COVERAGE_PROCESS_START")}
    answer = subprocess.run([sys.executable, "-c", RENDER, str(target), str(ROOT), str(tmp_path / "var"),
                             str(tmp_path / "own")], cwd=elsewhere, env=env, capture_output=True, text=True,
                            check=True)
    found = json.loads(answer.stdout)
    assert found["bot"].startswith(str(target)) and found["templates"].startswith(str(target))
    assert str(ROOT) not in found["sys_path"] and str(elsewhere) != str(ROOT)
    assert "A vote in Geneva" in found["html"] and "<strong>bold</strong>" in found["html"]
    assert "Some bold words." in found["text"] and "Unsubscribe with one click:" in found["text"]
    assert found["own_text"] == "Our own: Herald demo news\nhttps://example.org/u/T\n"
