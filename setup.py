"""Builds the shipped example campaigns and content into the wheel (``engine/examples``).

The repository keeps one copy, in the top-level ``campaigns/`` and ``content/``
folders (its working examples); ``ancrage init`` copies them out of the package.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

EXAMPLES = ("campaigns", "content")


class BuildWithExamples(build_py):
    """``build_py`` plus the example folders, copied under ``engine/examples``."""

    def run(self) -> None:
        super().run()
        here = Path(__file__).resolve().parent
        for name in EXAMPLES:
            self.copy_tree(str(here / name), str(Path(self.build_lib) / "engine" / "examples" / name))
        self.copy_file(str(here / "docs" / "campaign.schema.json"),
                       str(Path(self.build_lib) / "engine" / "examples" / "campaign.schema.json"))


setup(cmdclass={"build_py": BuildWithExamples})
