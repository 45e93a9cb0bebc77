""".env.example documents every environment variable the settings read (README promises it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from config import keys

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "config" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"
# Read by the Procfile rather than by settings.py.
PROCESS_VARIABLES = {"WEB_CONCURRENCY", "CELERY_CONCURRENCY", "ROSTER_BIND"}
# A variable's line: "# NAME=default   # what it does".
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")
DOCUMENTED = re.compile(r"^#\s*([A-Z][A-Z0-9_]*)=(.*?)\s+#\s*(\S.*)$")


def _is_env(node: ast.AST) -> bool:
    """``env``, ``env.ENVIRON``, ``os.environ``."""
    if isinstance(node, ast.Name):
        return node.id == "env"
    return isinstance(node, ast.Attribute) and (
        (isinstance(node.value, ast.Name) and node.value.id == "env" and node.attr == "ENVIRON")
        or (isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr == "environ")
    )


def _reads(tree: ast.AST) -> list[tuple[int, ast.expr]]:
    """(line, name expression) of every environment read: ``env("X")``, ``env.<cast>("X")``,
    ``os.environ.get("X")``, ``os.getenv("X")``, ``os.environ["X"]``, ``"X" in env.ENVIRON``."""
    found = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call):
            func = node.func
            is_read = (
                _is_env(func)
                or (isinstance(func, ast.Attribute) and _is_env(func.value))
                or (
                    isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and func.value.id == "os"
                    and func.attr == "getenv"
                )
            )
            if is_read and node.args:
                name = node.args[0]
            elif is_read:
                name = next((k.value for k in node.keywords if k.arg == "var"), None)
        elif isinstance(node, ast.Subscript) and _is_env(node.value):
            name = node.slice
        elif isinstance(node, ast.Compare) and any(_is_env(c) for c in node.comparators):
            name = node.left
        if name is not None:
            found.append((node.lineno, name))
    return found


def _settings_variables() -> set[str]:
    names, unnamed = set(), []
    for line, name in _reads(ast.parse(SETTINGS.read_text())):
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            names.add(name.value)
        else:
            unnamed.append(line)
    # A computed name would slip past this test: spell environment variables out.
    assert not unnamed, f"config/settings.py reads the environment by a computed name: {unnamed}"
    return names


class _RecordingEnv:
    """Stands in for ``environ.Env``: every cast method records the name and gives the default."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __getattr__(self, cast):
        def read(name, default=None, **kwargs):
            self.names.add(name)
            return default

        return read


def _keys_variables(tmp_path) -> set[str]:
    """config/keys.py builds names (``f"{name}_FILE"``), so its reads are recorded by running it."""
    env = _RecordingEnv()
    keys.jwt_private_keys(env, tmp_path)
    keys.fernet_keys(env, tmp_path)
    return env.names


def _listed() -> set[str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return {m.group(1) for m in map(ASSIGNMENT.match, lines) if m}


def test_env_example_documents_every_variable_the_settings_read(tmp_path):
    read = _settings_variables() | _keys_variables(tmp_path)
    assert {"DEBUG", "DATABASE_URL", "TRUSTED_PROXY_COUNT", "JWT_PREVIOUS_PRIVATE_KEY"} <= read
    missing = sorted(read - _listed())
    assert not missing, f".env.example does not document: {missing}"


def test_env_example_documents_only_variables_something_reads(tmp_path):
    read = _settings_variables() | _keys_variables(tmp_path) | PROCESS_VARIABLES
    stale = sorted(_listed() - read)
    assert not stale, f".env.example documents variables nothing reads: {stale}"


def test_env_example_lines_are_all_documented_variables():
    """Every commented assignment has the "# NAME=default   # explanation" shape."""
    assignments = [line for line in ENV_EXAMPLE.read_text().splitlines() if ASSIGNMENT.match(line)]
    malformed = [line for line in assignments if not DOCUMENTED.match(line)]
    assert not malformed, f"lines without a default and an explanation: {malformed}"
