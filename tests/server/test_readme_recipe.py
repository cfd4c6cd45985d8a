"""The README's "Testing your own app's SSE" recipe really runs: saved next to the Quick start as
test_app_sse.py and run with plain `pytest` in a folder of its own, as a user would."""
import re
import subprocess
import sys

from support.servers import REPO_DIR


def readme_block(section: str) -> str:
    readme = (REPO_DIR / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", body, re.S).group(1)


def test_testing_recipe_passes_against_the_quick_start(tmp_path):
    (tmp_path / "app.py").write_text(readme_block("Quick start"))
    (tmp_path / "test_app_sse.py").write_text(readme_block("Testing your own app's SSE"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app_sse.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=90,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
