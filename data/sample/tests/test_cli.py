import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path

from wordstat.cli import main


class CliTest(unittest.TestCase):
    def run_cli(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(list(argv))
        return code, out.getvalue()

    def test_counts_a_file_as_json(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "notes.txt")
            path.write_text("one two two three three three", encoding="utf-8")
            code, out = self.run_cli(str(path), "--json", "--top", "2")
        self.assertEqual(code, 0)
        self.assertEqual(json.loads(out)["top"], [{"word": "three", "count": 3}, {"word": "two", "count": 2}])

    def test_table_output(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "notes.txt")
            path.write_text("alpha beta alpha", encoding="utf-8")
            code, out = self.run_cli(str(path))
        self.assertEqual(code, 0)
        self.assertIn("alpha", out.splitlines()[0])

    def test_missing_file_is_exit_1(self) -> None:
        code, _ = self.run_cli("/nonexistent/notes.txt")
        self.assertEqual(code, 1)


if __name__ == "__main__":
    unittest.main()
