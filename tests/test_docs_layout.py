"""docs/layout.md shows the way: the packages, one cell's path, the recipes, and only files that exist."""

import re

from tests.conftest import ROOT

LAYOUT = ROOT / "docs/layout.md"


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def test_every_file_and_folder_the_layout_names_exists():
    text = LAYOUT.read_text()
    named = set(re.findall(r"`((?:contract|trainables|study|analysis|tests|benchmarks|configs|examples|docs)/"
                           r"[\w./-]*)`", text))
    assert len(named) > 40  # the page names the modules at each step, not only the packages
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, f"docs/layout.md names files that do not exist: {missing}"


def test_the_layout_has_the_cells_path_and_a_recipe_for_each_common_change():
    text = LAYOUT.read_text()
    path = _section(text, "One cell, from the config to the report")
    steps = re.findall(r"^\d+\. ", path, re.M)
    assert len(steps) >= 5
    # In the order a cell travels: config, launcher, trial, row, reader, report.
    order = ["study/config/load.py", "study/run/launch.py", "trainables/trial.py", "contract/row.py",
             "analysis/load.py", "analysis/report.py"]
    assert [path.index(f"`{m}`") for m in order] == sorted(path.index(f"`{m}`") for m in order)
    recipes = _section(text, "Recipes")
    for change in ("A knob", "A model", "A data source", "A metric", "A question", "A fault to recover from"):
        assert f"**{change}**" in recipes, change


def test_the_readme_links_the_layout_from_its_development_section():
    readme = (ROOT / "README.md").read_text()
    assert "(docs/layout.md)" in _section(readme, "Development")
