"""The CI wheel check: build the wheel, look inside, install it in a fresh virtual environment
and run ``sm`` from there.

Nothing is fetched from the network: the wheel is built without build isolation (setuptools is
in the test environment) and installed with ``--no-deps --no-index`` into the fresh venv, which
finds the already-installed dependencies through a ``.pth`` line naming this environment's
site-packages. The package itself comes only from the wheel: the editable install's finder
lives in a ``.pth`` file of this environment that the fresh venv does not process.

This is part of the normal suite on purpose: a wheel without its schemas, or with a top-level
``cli`` package, breaks every user and no other test would notice (they use the editable
install).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


#: What the sdist/wheel is built from (copied, so the build leaves nothing in the checkout).
SOURCES = ("pyproject.toml", "README.md", "statemachine", "cli", "schemas")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "-q", "-w", out, ".", cwd=source,
    )
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("statemachine_asl-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (dependencies seen through a .pth line)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=False, clear=True)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    install = _run(
        sys.executable, "-m", "pip", "--python", bin_dir / "python", "install", "-q",
        "--disable-pip-version-check", "--no-deps", "--no-index", wheel,
        cwd=env_dir,
    )
    assert install.returncode == 0, install.stderr
    fresh_site = _run(bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=env_dir)
    deps = sysconfig.get_paths()["purelib"]
    Path(fresh_site.stdout.strip(), "dependencies.pth").write_text(deps + "\n")
    return bin_dir


def test_wheel_contains_schemas_and_cli_inside_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert "cli" not in top_level and "schemas" not in top_level
    assert "statemachine/cli/main.py" in names and "statemachine/cli/__main__.py" in names
    schemas = [n for n in names if n.startswith("statemachine/schemas/") and n.endswith(".json")]
    assert schemas, names
    for name in schemas:
        json.loads(zipfile.ZipFile(wheel).read(name))  # each one is real JSON
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "sm = statemachine.cli.main:entry" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_validates_the_definitions(installed: Path, tmp_path: Path) -> None:
    # Run from an empty folder so that nothing from the checkout can be imported by accident.
    where = _run(
        installed / "python",
        "-c",
        "import statemachine; print(statemachine.__file__)",
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout
    result = _run(installed / "sm", "validate", REPO / "definitions", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(list((REPO / "definitions").glob("*.yaml")))
    assert f"{count} files checked: {count} valid, 0 invalid" in result.stdout


def test_installed_wheel_runs_hello_and_prints_the_schema(installed: Path, tmp_path: Path) -> None:
    hello = _run(
        installed / "sm",
        "run",
        REPO / "definitions" / "hello.yaml",
        "--input",
        '{"name": "wheel"}',
        cwd=tmp_path,
    )
    assert hello.returncode == 0, hello.stderr
    assert json.loads(hello.stdout) == {"greeting": "Hello, wheel!"}
    schema = _run(installed / "sm", "schema", cwd=tmp_path)
    assert schema.returncode == 0, schema.stderr
    assert isinstance(json.loads(schema.stdout), dict)


def test_wheel_ships_the_console_page(wheel: Path) -> None:
    """sm serve's console works offline: its page, script and styles are in the wheel."""
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("index.html", "console.js", "graph.js", "console.css"):
        assert f"statemachine/server/static/{name}" in names, names
    assert "statemachine/server/console.py" in names and "statemachine/layout.py" in names
