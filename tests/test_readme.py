"""The README's samples are what newcomers copy first: they must run."""

from __future__ import annotations

import re
import sys
import typing as t
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


@pytest.fixture
def readme_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> t.Any:
    app_code, test_code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (tmp_path / "readme_app.py").write_text(app_code)
    (tmp_path / "readme_test.py").write_text("from readme_app import *\n" + test_code)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("readme_app", "readme_test"):
        sys.modules.pop(name, None)


def test_the_smallest_app_and_its_test_run(readme_app: Path) -> None:
    import readme_test  # type: ignore[import-not-found]

    readme_test.test_add()
    from readme_app import create_app  # type: ignore[import-not-found]

    page = create_app({"TESTING": True}).test_client().get("/")
    assert page.status_code == 200
    assert 'name="_action"' in page.text and "<li>Milk" in page.text
