"""README's Python snippet works as a script saved anywhere, even beside a clone (a folder named aeflow/)."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_snippet_runs_as_a_script_beside_a_clone(tmp_path):
    snippet = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "aeflow.make_config" in snippet
    (tmp_path / "aeflow" / "src").mkdir(parents=True)   # what a clone looks like: no aeflow/__init__.py on top
    (tmp_path / "aeflow" / "README.md").write_text("a clone\n")
    script = tmp_path / "snippet.py"
    script.write_text(snippet.replace('"epochs": 100', '"epochs": 1'))  # the same code, a shorter run
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "runs" / "ae-digits" / "model.safetensors").exists()
