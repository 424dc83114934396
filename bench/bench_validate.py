"""How fast ``ancrage validate`` checks a library: the shipped one and one fifty times larger.

Run: ``.venv/bin/python bench/bench_validate.py [--copies 50] [--rounds 5]``.

Both libraries live in a temporary folder. The large one holds ``--copies``
renamed copies of every lesson, quiz bank, survey, check-in and campaign, with
references rewritten so that every cross-reference still resolves (and quiz
item ids stay unique): the validator does the same work per file as on the
shipped library. Runs alternate A B A B (the machines are noisy), template
caches are cleared before each run so every run is as cold as one CLI call,
and the script prints the median files per second of each and their ratio
(close to 1 means validation time grows linearly with the library).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from engine.campaign.validate import validate_paths
from engine.content import render
from engine.settings import PROJECT_ROOT

_FOLDERS_BY_PATH = ("management", "bureautique", "securite")  # refs such as management/feedback-sbi
_BY_NAME = re.compile(r"\b(survey|checkin):\s*([a-z0-9][a-z0-9_-]*)")
_BY_PATH = re.compile(rf"\b({'|'.join(_FOLDERS_BY_PATH)})/")
_ITEM_ID = re.compile(r"^(\s*- id: )([a-z0-9_-]+)\s*$", re.MULTILINE)


def _copy_shipped(target: Path) -> tuple[Path, Path]:
    campaigns, content = target / "campaigns", target / "content"
    shutil.copytree(PROJECT_ROOT / "campaigns", campaigns)
    shutil.copytree(PROJECT_ROOT / "content", content)
    return campaigns, content


def _grow(campaigns: Path, content: Path, copies: int) -> None:
    """Adds ``copies - 1`` renamed copies of everything next to the originals."""
    originals = sorted(p for p in content.rglob("*") if p.is_file())
    shipped_campaigns = sorted(campaigns.glob("*.yaml"))
    for copy in range(1, copies):
        tag = f"{copy:02d}"
        for path in originals:
            rel = path.relative_to(content)
            text = path.read_text(encoding="utf-8")
            if rel.parts[0] in _FOLDERS_BY_PATH:
                out = content / f"c{tag}" / rel
                if "items:" in text:
                    text = _ITEM_ID.sub(rf"\g<1>\g<2>-{tag}", text)
            elif rel.parts[0] in ("surveys", "checkins"):
                out = content / rel.parent / f"{path.stem}-{tag}{path.suffix}"
            else:
                continue  # one FAQ per library
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        for path in shipped_campaigns:
            text = path.read_text(encoding="utf-8")
            text = re.sub(r"^campaign: (\S+)", rf"campaign: \1-{tag}", text, flags=re.MULTILINE)
            text = _BY_PATH.sub(rf"c{tag}/\1/", text)
            text = _BY_NAME.sub(rf"\1: \2-{tag}", text)
            (campaigns / f"{path.stem}-{tag}.yaml").write_text(text, encoding="utf-8")


def _run(campaigns: Path, content: Path) -> tuple[int, float, int]:
    render._compiled.cache_clear()
    render._check_cached.cache_clear()
    started = time.perf_counter()
    report = validate_paths([campaigns, content], content_dir=content)
    elapsed = time.perf_counter() - started
    return report.files, elapsed, report.errors + report.warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ancrage-bench-") as tmp:
        small = _copy_shipped(Path(tmp) / "shipped")
        large = _copy_shipped(Path(tmp) / "large")
        _grow(*large, args.copies)
        rates: dict[str, list[float]] = {"shipped": [], "large": []}
        sizes: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, (campaigns, content) in (("shipped", small), ("large", large)):
                files, elapsed, findings = _run(campaigns, content)
                if findings:
                    raise SystemExit(f"{name}: {findings} errors or warnings; the generated library is wrong")
                sizes[name] = files
                rates[name].append(files / elapsed)
        print(f"validate: {args.rounds} rounds alternating shipped/large, template caches cleared each run")
        for name in ("shipped", "large"):
            values = rates[name]
            print(f"  {name:<8} {sizes[name]:>5} files  median {statistics.median(values):8.0f} files/s"
                  f"  (min {min(values):.0f}, max {max(values):.0f})")
        ratio = statistics.median(rates["large"]) / statistics.median(rates["shipped"])
        print(f"  ratio large/shipped throughput: {ratio:.2f} "
              f"(library {sizes['large'] / sizes['shipped']:.0f}x larger)")


if __name__ == "__main__":
    main()
