"""Builds the optional C accelerator ``flask_actions._slots``; everything else
about the distributions is in ``pyproject.toml`` and ``MANIFEST.in``.

Where the extension cannot be compiled (no compiler, no Python headers, C
code that refuses the platform), the build warns and goes on without it, and
``flask_actions.slots`` runs its pure-Python code. With
``FLASK_ACTIONS_REQUIRE_SPEEDUPS=1`` (as ``.ci/run`` sets) such a failure
fails the build instead, with the compiler's own error.
"""

from __future__ import annotations

import os
import platform
import sys

from setuptools import Extension
from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError
from setuptools.errors import ExecError
from setuptools.errors import PlatformError

REQUIRED = os.environ.get("FLASK_ACTIONS_REQUIRE_SPEEDUPS") == "1"


def warn(*lines: str) -> None:
    bar = "=" * 74
    print(bar, *lines, bar, sep="\n", file=sys.stderr)


class optional_build_ext(build_ext):
    """``build_ext`` that warns and builds nothing where the compiler fails,
    unless the speedups are required. Only the compiler's errors are caught:
    any other is a bug in the build, and fails it."""

    def run(self) -> None:
        try:
            super().run()
        # CompileError and LinkError (a missing Python.h, an #error, no cc on
        # PATH) are CCompilerError; ExecError and PlatformError come from
        # compilers that cannot be run or found (MSVC).
        except (CCompilerError, ExecError, PlatformError):
            if REQUIRED:
                raise

            warn(
                "WARNING: the C extension flask_actions._slots could not be"
                " built (the error is above);",
                "flask-actions works the same without it, with its pure-Python code.",
                "Set FLASK_ACTIONS_REQUIRE_SPEEDUPS=1 to make this an error.",
            )
            # Make the wheel pure Python (py3-none-any): without extensions
            # `install` puts the modules in purelib, and bdist_wheel reads
            # root_is_pure (set before the build) again after the build, for
            # the layout and the tag. An editable wheel keeps its tag.
            self.distribution.ext_modules = []
            wheel = self.distribution.get_command_obj("bdist_wheel", create=False)
            if wheel is not None:
                wheel.root_is_pure = True


# The extension is written against CPython's C API; other interpreters (PyPy,
# GraalPy) run the pure-Python code, as they do MarkupSafe's.
if REQUIRED or platform.python_implementation() == "CPython":
    ext_modules = [Extension("flask_actions._slots", ["flask_actions/_slots.c"])]
else:
    ext_modules = []
    warn("flask_actions._slots is built for CPython only: not on this Python.")

setup(ext_modules=ext_modules, cmdclass={"build_ext": optional_build_ext})
