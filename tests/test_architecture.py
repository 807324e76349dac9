"""The package's shape (docs/ARCHITECTURE.md): arrows only point down, the command line is one
layer, types hold, and nothing below the command line reads the environment or the working
directory on its own.

Every check reads the source with ``ast``: imports inside functions and under ``TYPE_CHECKING``
count like the others (a cycle hidden in a function is still a cycle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aftersales_kit

PACKAGE = Path(aftersales_kit.__file__).resolve().parent
CLI = "aftersales_kit.cli"
#: Most ``Any`` the package may hold: where a third-party API forces it (papermill, nbconvert,
#: great-tables internals, JSON from disk before validation).
MAX_ANY = 40
#: Modules below the command line that read the environment, with why they may.
ENVIRONMENT_READERS = {
    # a kernel gets this process's environment minus the secrets (and never changes ours)
    "aftersales_kit.render.engine": "kernel environment without secrets",
    # SMTP and webhook secrets belong in the environment; both take ``env`` (default os.environ)
    "aftersales_kit.deliver.smtp": "SMTP secrets",
    "aftersales_kit.deliver.push": "webhook secrets",
    "aftersales_kit.config": "${NAME} expansion of secrets in [smtp] / webhooks",
    # the user's cache folder (XDG) for the vega bundle built from the installed vl-convert
    "aftersales_kit.resources": "XDG cache folder",
    # the report kernel's side of the papermill boundary: the flag and the configuration file
    # the toolkit itself sets for that kernel (render.report.report_env), nothing the user sets
    "aftersales_kit.render.charts": "the report kernel's flag (report_env)",
    "aftersales_kit.render.sections": "the report kernel's configuration file (report_env)",
    # a relative data or rules path means the user's working directory, as on any command line;
    # papermill runs the kernel there so the notebook reads the same files
    "aftersales_kit.render.report": "relative paths resolve where the user ran the command",
    # the kernel process's own entry point drops its working directory from sys.path while
    # ipykernel loads, exactly as ipykernel's launcher does
    "aftersales_kit.render.kernel_boot": "the kernel's sys.path, as ipykernel_launcher",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def trees() -> Iterator[tuple[str, ast.Module]]:
    for name, path in modules().items():
        yield name, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules ``name`` imports anywhere in its source."""
    # relative imports resolve against the module's package (itself, for an __init__)
    base = (name if _is_package(name) else name.rpartition(".")[0]).split(".")
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                root = ".".join(base[: len(base) - node.level + 1])
                target = f"{root}.{node.module}" if node.module else root
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
    # a submodule importing its own package's __init__ is Python's doing, not an arrow
    return {m for m in out if m in known and m != name and not name.startswith(f"{m}.")}


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    known = set(modules())
    return {name: imported(name, tree, known) for name, tree in trees()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    found = cycles(graph)
    shown = [{m: sorted(graph[m] & set(component)) for m in component} for component in found]
    assert not found, f"import cycles (module: the cycle's modules it imports): {shown}"


def test_the_cycle_check_finds_a_cycle() -> None:
    # the check above can fail: two modules importing each other form a component
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_argparse_only_in_the_command_line_layer() -> None:
    users = sorted(
        name
        for name, tree in trees()
        if not (name == CLI or name.startswith(f"{CLI}."))
        and any(
            (isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names))
            or (isinstance(node, ast.ImportFrom) and node.module == "argparse")
            for node in ast.walk(tree)
        )
    )
    assert not users, f"argparse outside {CLI}: {users}"


def _any_count(tree: ast.Module) -> int:
    return sum(
        1
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == "Any")
        or (isinstance(node, ast.Attribute) and node.attr == "Any")
    )


def test_any_is_rare() -> None:
    counts = {name: n for name, tree in trees() if (n := _any_count(tree))}
    total = sum(counts.values())
    worst = sorted(counts.items(), key=lambda kv: -kv[1])[:8]
    assert total <= MAX_ANY, f"{total} uses of Any (at most {MAX_ANY}); most in {worst}"


def _reads_environment(tree: ast.Module) -> list[int]:
    """Lines that read os.environ / os.getenv or the working directory (Path.cwd, os.getcwd)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            if pair in {("os", "environ"), ("os", "getenv"), ("Path", "cwd"), ("os", "getcwd")}:
                lines.append(node.lineno)
    return lines


def test_no_hidden_inputs_below_the_command_line() -> None:
    readers = {
        name: lines
        for name, tree in trees()
        if not (name == CLI or name.startswith(f"{CLI}."))
        and name not in ENVIRONMENT_READERS
        and (lines := _reads_environment(tree))
    }
    assert not readers, f"environment or working-directory reads below the CLI (lines): {readers}"


def test_no_dead_code() -> None:
    # vulture finds what nothing uses; tests/vulture_whitelist.py names what is used by name
    # (notebook cells, command handlers, JSON keys, pydantic and IPython hooks), with why.
    whitelist = Path(__file__).with_name("vulture_whitelist.py")
    found = subprocess.run(
        [sys.executable, "-m", "vulture", str(PACKAGE), str(whitelist), "--min-confidence", "60"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, (
        f"dead code (delete it, or whitelist it with a reason):\n{found.stdout}"
    )
