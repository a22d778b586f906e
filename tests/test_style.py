"""The house rules of STYLE.md that a machine can check."""

import ast
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PACKAGES = ("contract", "trainables", "study", "analysis")
MODULES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))
# Inside trainables, the sub-packages in the order of the method: a module imports only from its
# own sub-package and the ones before it (the trial, last, from all of them).
TRAINABLES_ORDER = ("data", "models", "run", "method", "cell", "trial")
# Inside study, likewise: the config, then the searchers, then running them, then the command line.
STUDY_ORDER = ("config", "search", "run", "cli")


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from package import module` names a module too
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_graph():
    names = {_module_name(p): p for p in MODULES}
    graph = {}
    for name, path in names.items():
        graph[name] = {i for i in _imports(path) if i in names and i != name}
    return graph


CLI = "study/cli/"  # the command line: the one part of study/ that imports analysis


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_form_the_v_and_ray_stays_at_the_edge(path):
    # DESIGN.md 3: `study` and `analysis` sit side by side on `trainables`, the contract below all
    # three; `analysis` reads what trials wrote and imports neither; under `study/` only the CLI
    # (study/cli/) may import `analysis`; the contract imports none of them, nor torch or Ray.
    relative = str(path.relative_to(ROOT))
    package = path.relative_to(ROOT).parts[0]
    roots = {name.split(".")[0] for name in _imports(path)}
    forbidden = {"contract": {"trainables", "study", "analysis", "torch", "torchvision", "ray"},
                 "trainables": {"study", "analysis"}, "analysis": {"study", "trainables"},
                 "study": set() if relative.startswith(CLI) else {"analysis"}}[package]
    assert not roots & forbidden, f"{path}: imports {roots & forbidden}"
    ray_allowed = {"trainables/trial.py", "study/run/launch.py", "study/run/repair.py", "study/run/cluster.py",
                   "study/run/callbacks.py", "study/search/searchers.py", "analysis/load.py"}
    if "ray" in roots:
        assert relative in ray_allowed, f"{path} imports ray"


@pytest.mark.parametrize("path", sorted((ROOT / "trainables").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_trainables_import_one_way_in_the_order_of_the_method(path):
    parts = path.relative_to(ROOT / "trainables").with_suffix("").parts
    if parts == ("__init__",):
        return
    mine = TRAINABLES_ORDER.index(parts[0])
    for name in _imports(path):
        inner = name.split(".")
        if inner[0] == "trainables" and len(inner) > 1:
            assert TRAINABLES_ORDER.index(inner[1]) <= mine, f"{path}: imports {name}, later in the method"


@pytest.mark.parametrize("path", sorted((ROOT / "study").glob("*/*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_study_sub_packages_import_one_way(path):
    mine = STUDY_ORDER.index(path.parent.name)
    for name in _imports(path):
        inner = name.split(".")
        if inner[0] == "study" and len(inner) > 1 and inner[1] in STUDY_ORDER:
            assert STUDY_ORDER.index(inner[1]) <= mine, f"{path}: imports {name}, above it"


def test_every_package_says_what_it_owns_and_may_import():
    for init in sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")):
        assert len((ast.get_docstring(ast.parse(init.read_text())) or "").splitlines()) >= 2, f"{init}: no docstring"


def test_the_project_has_no_import_circle():
    graph, state, stack = _project_graph(), {}, []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                raise AssertionError(f"import circle: {' -> '.join(stack[stack.index(other):] + [other])}")
            if other not in state:
                visit(other)
        stack.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_import_check_sees_a_wrong_way_edge(tmp_path):
    wrong = tmp_path / "plots.py"
    wrong.write_text("import pandas\nfrom trainables.data import Dataset\n")
    assert "trainables" in {name.split(".")[0] for name in _imports(wrong)}


def test_the_contract_imports_without_torch_or_ray():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['ray'] = None; sys.modules['torchvision'] = None\n"
            "import contract.config, contract.row, contract.cells, contract.knobs, contract.names\n"
            "contract.config.StudyConfig.model_validate({'model': {'name': 'torchvision/resnet18'}})")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("package", ["trainables", "analysis"])
def test_defaults_of_the_method_live_only_in_the_config_classes(package):
    # Momentum, weight decay and the regime thresholds are config fields; a leaf function that
    # takes one must have it passed (no second default to drift from the first).
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                positional = args.posonlyargs + args.args
                pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
                pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
                # None means "take it from the study's config" (open_study), not a second value.
                with_default = [a.arg for a, d in pairs if not (isinstance(d, ast.Constant) and d.value is None)]
                assert not {"momentum", "weight_decay", "mc_threshold", "cka_eps"} & set(with_default), \
                    f"{path.name}:{node.lineno} {node.name} defaults {with_default}"


def test_the_engine_imports_without_ray():
    code = "import sys; sys.modules['ray'] = None; import trainables.run.engine, trainables.method.pruning, trainables.method.landscape"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_importing_every_module_creates_no_files(tmp_path):
    names = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in MODULES
             if p.name not in ("__init__.py", "__main__.py")]  # __main__ runs the command line
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfor n in {names!r}: __import__(n)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, timeout=120)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_assert_eval_or_exec_and_small_functions(path):
    tree = ast.parse(path.read_text())
    assert len(path.read_text().splitlines()) <= 300, f"{path} is over 300 lines"
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Assert), f"{path}:{node.lineno}: validate with exceptions, not assert"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("eval", "exec"), f"{path}:{node.lineno}"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) else node.body  # code, not the docstring
            assert body[-1].end_lineno - body[0].lineno < 60, f"{path}:{node.lineno} {node.name} is over 60 lines"


@pytest.mark.parametrize("path", sorted((ROOT / "trainables").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_leaf_functions_take_explicit_keyword_arguments(path):
    # Only the trial and its cell (trainables/cell/) see config objects; everything below takes
    # explicit arguments or a named bundle (SGDRun).
    if path.name == "trial.py" or path.parent.name == "cell":
        return
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            positional = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
            assert len(positional) <= 3, f"{path.name}:{node.lineno} {node.name} has {len(positional)} positional"
            assert not {"config", "cfg"} & {a.arg for a in node.args.args + node.args.kwonlyargs}, node.name


def test_the_readme_is_a_front_page_whose_links_and_the_docs_links_resolve():
    # The README is read in five minutes; the measured details live in docs/, every link leads
    # somewhere, and no page cites what a user cannot open (an issue number, the design notes).
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "configs").glob("*.yaml"))]:
        text = page.read_text()
        for link in re.findall(r"\]\(([^)#\s]+)", text):
            assert link.startswith("http") or (page.parent / link).exists(), f"{page.name}: {link} does not exist"
        assert not re.search(r"\bissue \d+|DESIGN\.md", text, re.I), f"{page.name} cites an issue or DESIGN.md"
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in readme, f"README does not link docs/{page.name}"
