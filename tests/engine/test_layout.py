"""The house rules that keep the layout readable: imports go one way (apps → runtime → engine;
integrations → engine, and nothing imports the integrations), the engine pulls in no web, chat
or LLM framework, and no code depends on where this checkout sits."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, clean_env

BOT = REPO / "bot"
# what each layer may not import (its own package's names, resolved from relative imports)
LLM = ("langchain", "langchain_core", "langgraph")  # only bot.integrations may load these
FRONT_ENDS = ("fastapi", "starlette", "uvicorn", "slack_bolt", "slack_sdk", "typer")
FORBIDDEN = {
    "engine": ("bot.apps", "bot.runtime", "bot.integrations", *FRONT_ENDS, *LLM),
    "runtime": ("bot.apps", "bot.integrations", "slack_bolt", "typer", *LLM),
    "apps": ("bot.integrations", *LLM),
    "integrations": ("bot.apps", "bot.runtime", *FRONT_ENDS),
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved against its package."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            mod = ".".join([*base, node.module] if node.module else base)
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_go_one_way(layer):
    bad = []
    for path in sorted((BOT / layer).rglob("*.py")):
        for mod in sorted(imported_modules(path)):
            if any(mod == f or mod.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(REPO)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_importing_the_engine_loads_no_front_end():
    """The same rule, at run time: the engine's whole import graph, in a fresh interpreter."""
    code = (
        "import sys, bot, bot.engine.service, bot.engine.evaluate, bot.engine.tickets\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FRONT_ENDS + LLM!r}"
        " or m.startswith(('bot.apps', 'bot.runtime', 'bot.integrations')))\n"
        "print(','.join(bad))"
    )
    p = subprocess.run([sys.executable, "-c", code], env=clean_env(), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "", f"importing the engine loaded: {p.stdout.strip()}"


def test_public_api_is_declared():
    import bot

    assert {"Bot", "Settings", "EngineSettings", "Answer", "Finding", "Citation"} <= set(bot.__all__)
    for name in bot.__all__:
        assert getattr(bot, name) is not None, name


# a quoted absolute path ("/a/b…") that exists on this machine, outside the system's folders
ABSOLUTE = re.compile(r"""["'](/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+/?)["']""")
SYSTEM = ("/usr/", "/etc/", "/proc/", "/dev/", "/tmp/", "/bin/", "/var/", "/sys/", "/run/", "/opt/")


def test_no_absolute_paths_of_this_machine():
    """A clone placed anywhere must work: code finds the repo's files relative to itself."""
    files = [REPO / "Makefile", *(REPO / ".ci").glob("*")]
    for folder in ("bot", "tests", "evals"):
        files += [p for p in (REPO / folder).rglob("*") if p.suffix in (".py", ".sh")]
    bad = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for m in ABSOLUTE.finditer(line):
                path = m.group(1)
                if not (path + "/").startswith(SYSTEM) and Path(path).exists():
                    bad.append(f"{f.relative_to(REPO)}:{n}: {path}")
    assert not bad, "\n".join(bad)
