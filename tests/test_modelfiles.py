"""Where models are found: the installed package, $MONITOR_MODELS, never a silent fallback."""

import json
import os
import subprocess
import sys
import sysconfig
import venv

import pytest

from conftest import ROOT
from monitor import coop_model, sectors
from monitor.analysis import analyse
from monitor.modelfiles import MissingModelError, models_dir


def test_models_are_found_in_the_installed_package():
    assert (models_dir() / coop_model.MODEL_FILE).exists()
    assert (models_dir() / sectors.MODEL_FILE).exists()


@pytest.mark.parametrize("missing,use", [
    ("cooperation.skops", lambda: analyse("Россия и Япония будут сотрудничать", "")),
    ("cooperation.json", lambda: analyse("Россия и Япония будут сотрудничать", "")),
    ("sectors.skops", lambda: analyse("Россия и Япония будут сотрудничать", "")),
    ("sectors.yaml", lambda: sectors.sector_names()),
])
def test_a_missing_model_is_an_error_naming_it(tmp_path, monkeypatch, missing, use):
    for name in ("cooperation.skops", "cooperation.json", "sectors.skops", "sectors.json",
                 "sectors.yaml"):
        if name != missing:
            (tmp_path / name).write_bytes((models_dir() / name).read_bytes())
    monkeypatch.setenv("MONITOR_MODELS", str(tmp_path))
    for cache in (coop_model.load_model, sectors.load_model, sectors.taxonomy):
        cache.cache_clear()
    try:
        with pytest.raises(MissingModelError, match=missing.replace(".", r"\.")):
            use()
    finally:
        monkeypatch.delenv("MONITOR_MODELS")
        for cache in (coop_model.load_model, sectors.load_model, sectors.taxonomy):
            cache.cache_clear()


@pytest.mark.slow
def test_a_wheel_carries_the_models(tmp_path, seed_article):
    """Build a wheel, install it into a fresh venv (its dependencies borrowed from this
    one, never the checkout) and analyse the seed article there."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(ROOT)], check=True)
    [wheel] = (tmp_path / "dist").glob("monitor-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", str(wheel)], check=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    # this venv's packages as plain paths: their .pth hooks (the editable checkout) do not run
    with open(os.path.join(site.stdout.strip(), "borrowed.pth"), "w") as pth:
        pth.write(sysconfig.get_paths()["purelib"] + "\n")
    title, text = seed_article
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_MODELS", "PYTHONPATH")}
    result = subprocess.run(
        [str(python), "-m", "monitor", "analyze", "-", "--workers", "1"], cwd=tmp_path,
        input=json.dumps({"id": "seed", "title": title, "text": text}, ensure_ascii=False),
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    where = subprocess.run([str(python), "-c", "import monitor; print(monitor.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, env=env)
    assert str(env_dir) in where.stdout  # the wheel's monitor, not the checkout's
    out = json.loads(result.stdout)
    assert out["is_cooperation"] and out["countries"] == ["JP", "RU"]
    assert out["sectors"][0]["id"] == "water"
