"""The package works installed as users install it: not editable, away from the checkout."""

import shutil
import os
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO, ffmpeg_rgb


CLEAN = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing but the venv decides what imports


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtual environment with aivid installed from the checkout as a wheel would be (its
    dependencies come from this interpreter's site-packages: no download)."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(root)], check=True)
    wheels = root / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                            str(wheels), str(REPO)], capture_output=True, text=True, cwd=root, env=CLEAN)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("aivid-*.whl")
    installed = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                               capture_output=True, text=True, cwd=root, env=CLEAN)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return root


def test_installed_package_checks_a_config_and_runs_the_demo_from_a_copied_workflow(venv, tmp_path):
    python = venv / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import aivid.workflow.config as c; print(c.__file__); "
                            "print(c.section('output')['crf'])"], capture_output=True, text=True, cwd=tmp_path, env=CLEAN)
    assert where.returncode == 0, where.stderr
    module, crf = where.stdout.split()
    assert module.startswith(str(venv)) and not module.startswith(str(REPO)), module  # the installed copy
    assert crf == "18"  # read from the schema inside the package
    elsewhere = tmp_path / "elsewhere"
    for part in ("workflow", "envs", "config"):  # the workflow's files (its rules name ../../envs), no aivid/
        shutil.copytree(REPO / part, elsewhere / part, ignore=shutil.ignore_patterns("__pycache__"))
    run = subprocess.run([str(python), "-m", "snakemake", "-s", str(elsewhere / "workflow" / "Snakefile"),
                          "--directory", str(elsewhere), "--cores", "2"], capture_output=True, text=True,
                         cwd=tmp_path, env=CLEAN)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    out, source = elsewhere / "results" / "demo" / "output.mp4", elsewhere / "resources" / "demo" / "input.mp4"
    probed = subprocess.run([str(venv / "bin" / "aivid"), "probe", str(out)], capture_output=True, text=True, env=CLEAN)
    assert probed.returncode == 0 and '"frames": 250' in probed.stdout, probed.stdout + probed.stderr
    assert ffmpeg_rgb(out).shape == ffmpeg_rgb(source).shape
    report = subprocess.run([str(python), "-m", "snakemake", "-s", str(elsewhere / "workflow" / "Snakefile"),
                             "--directory", str(elsewhere), "--cores", "1", "--report", str(tmp_path / "demo.zip")],
                            capture_output=True, text=True, cwd=tmp_path, env=CLEAN)
    assert report.returncode == 0, report.stderr[-2000:]
    with zipfile.ZipFile(tmp_path / "demo.zip") as archive:
        names = archive.namelist()
    assert "demo/report.html" in names and any(n.endswith("/index.html") for n in names)
    assert sum(n.endswith(".png") for n in names) >= 4 and any(n.endswith(".mp4") and "/seg" in n for n in names)
