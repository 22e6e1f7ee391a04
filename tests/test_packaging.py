"""The installed wheel, used from outside the repository, finds its shaders and runs.

Builds a wheel from a clean copy of the repository (a stale build/ folder cannot hide a
shader missing from the package data), installs it into a fresh venv that sees the
packages of the environment running the tests (wgpu, numpy), and runs scripts with the
working directory outside the repository.
"""
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from types import SimpleNamespace
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                 ".pytest_cache", ".hypothesis", "results")

CHECK = r"""
import sys
from pathlib import Path
import wgpu_tensor as wt
from wgpu_tensor.runtime import shaders

prefix = Path(sys.prefix).resolve()
where = Path(wt.__file__).resolve()
assert prefix in where.parents, f"wgpu_tensor imported from {where}, not from the venv {prefix}"
assert prefix in shaders.shader_dir().resolve().parents, shaders.shader_dir()

assert (where.parent / "py.typed").is_file(), "py.typed missing from the installed package"
import inspect
assert list(inspect.signature(wt.masked_select).parameters) == ["x", "mask", "out", "fill_value"]

x = wt.tensor([[1, 2, 3], [4, 5, 6]])
got = x.gt(3).numpy().tolist()
assert got == [[False, False, False], [True, True, True]], got
print("installed wheel OK:", where.parent)
"""


def _run(cmd, cwd, env, timeout=120):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode:
        pytest.fail(f"{' '.join(str(c) for c in cmd)} exited {r.returncode}\n"
                    f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}", pytrace=False)
    return r.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("packaging")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=_IGNORE)
    wheels = tmp / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, src], tmp, env, 300)
    (wheel,) = wheels.glob("wgpu_tensor-*.whl")

    # A fresh venv that also sees the test environment's own site-packages (when the tests
    # run inside a venv, --system-site-packages alone would only reach the base Python's).
    # A plain path in a .pth is not processed as a site dir, so an editable install of
    # wgpu_tensor living there stays inactive.
    env_dir = tmp / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env).strip()
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    Path(purelib, "_outer_env.pth").write_text("\n".join(sorted(outer)) + "\n")
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], tmp, env)

    work = tmp / "elsewhere"          # cwd outside the repository
    work.mkdir()
    return SimpleNamespace(wheel=wheel, py=py, work=work, env=env, src=src)


def test_wheel_carries_package_and_shaders(installed):
    wheel, src = installed.wheel, installed.src   # src: the snapshot of the repository built
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {"wgpu_tensor/shaders/elementwise.wgsl"}
    want |= {f"wgpu_tensor/shaders/{p.name}" for p in (src / "shaders").glob("*.wgsl")}
    want |= {p.relative_to(src).as_posix() for p in (src / "wgpu_tensor").rglob("*.py")}
    want |= {p.relative_to(src).as_posix() for p in (src / "wgpu_tensor").rglob("*.pyi")}
    want.add("wgpu_tensor/py.typed")  # PEP 561: type checkers read the package's hints
    missing = sorted(want - names)
    assert not missing, f"{wheel.name} lacks {missing}"


def test_installed_wheel_runs_outside_repo(installed):
    py, work, env = installed.py, installed.work, installed.env
    script = work / "check_installed.py"
    script.write_text(CHECK)
    out = _run([py, script], work, env)
    assert "installed wheel OK" in out


def test_quickstart_runs_with_installed_wheel(installed):
    py, work, env = installed.py, installed.work, installed.env
    out = _run([py, REPO / "examples" / "quickstart.py"], work, env)
    assert "adapter:" in out and "x[mask]" in out
