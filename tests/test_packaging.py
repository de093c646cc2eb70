"""A non-editable install carries every data file the package reads (params.yaml, the embedded model)."""

import configparser
import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_data_file_of_the_package_is_in_package_data():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = {
        pkg: [p.strip() for p in value.split(",") if p.strip()] for pkg, value in config["options.package_data"].items()
    }
    package_root = ROOT / "marginal_generate"
    data_files = [
        p
        for p in package_root.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert any(p.name == "params.yaml" for p in data_files)
    missing = []
    for path in data_files:
        covered = False
        for pkg, globs in patterns.items():
            pkg_dir = ROOT.joinpath(*pkg.split("."))
            if pkg_dir in path.parents:
                rel = path.relative_to(pkg_dir).as_posix()
                covered |= any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(rel, g.replace("**/", "")) for g in globs)
        if not covered:
            missing.append(str(path.relative_to(ROOT)))
    assert missing == [], f"not in setup.cfg [options.package_data], so missing from a wheel: {missing}"
