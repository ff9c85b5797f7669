"""The package as a user gets it: the wheel, installed with its dependencies into a fresh venv, runs
the main job from a folder that is not the checkout. (About half a minute on the 2-core machine:
building the wheel and installing it with its dependencies from the package index ~10 s, the tour
~15 s.)

Also: `import convscope` stays light (no experiments, viz or matplotlib until they are used)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _clean_env() -> dict:
    """The environment without anything that points Python at the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def uv(*args, env, cwd=None):
    """uv (a test dependency) builds and installs like pip, but downloads in parallel: ~10 s instead of ~75 s."""
    done = subprocess.run([sys.executable, "-m", "uv", *map(str, args)], env=env, cwd=cwd, capture_output=True,
                          text=True)
    assert done.returncode == 0, f"uv {args[0]}: {done.stderr[-2000:]}"
    return done


def test_the_wheel_in_a_fresh_venv_runs_the_tour_from_another_folder(tmp_path):
    source = tmp_path / "source"  # a copy, so that building leaves no build/ or egg-info in the checkout
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # a cache of its own: every dependency comes from the package index, as for a user
    env = {**_clean_env(), "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_NO_CONFIG": "1"}
    try:
        uv("build", "--wheel", "--out-dir", tmp_path / "dist", source, env=env)
        wheel = next((tmp_path / "dist").glob("convscope-*.whl"))
        uv("venv", "--python", sys.executable, tmp_path / "venv", env=env)
        bin_dir = tmp_path / "venv" / ("Scripts" if os.name == "nt" else "bin")
        uv("pip", "install", "--python", bin_dir / "python", wheel, env=env)
        _run_the_tour(tmp_path, bin_dir, env)
    finally:  # about 700 MB: keep none of it
        for folder in ("uv-cache", "venv"):
            shutil.rmtree(tmp_path / folder, ignore_errors=True)


def _run_the_tour(tmp_path, bin_dir, env):
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(bin_dir / "python"), "-c", "import convscope; print(convscope.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert Path(where).resolve().is_relative_to((tmp_path / "venv").resolve()), where  # not the checkout
    done = subprocess.run([str(bin_dir / "convscope"), "tour", "--quick"], cwd=work, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    index = (work / "tour" / "index.html").read_text()
    pictures = [p.name for p in (work / "tour").iterdir() if p.suffix in (".png", ".gif")]
    assert len(pictures) >= 8 and all(f'src="{p}"' in index for p in pictures)


def test_import_convscope_leaves_experiments_viz_and_matplotlib_unloaded():
    code = ("import sys, convscope as cs\n"
            "heavy = ('matplotlib', 'convscope.viz', 'convscope.experiments', 'convscope.tour', 'convscope.cli')\n"
            "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
            "cs.experiments\n"
            "print('matplotlib' in sys.modules, 'convscope.tour' in sys.modules)\n")
    env = {**_clean_env(), "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.splitlines() == ["[]", "True False"]  # experiments load on use, and never the tour


def test_experiments_do_not_import_the_tour():
    for path in (ROOT / "src" / "convscope" / "experiments").glob("*.py"):
        assert "tour" not in [w.strip(".,") for line in path.read_text().splitlines()
                              if line.lstrip().startswith(("import ", "from ")) for w in line.split()], path
