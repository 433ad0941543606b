"""Reading .env files: python-dotenv's parser, strict errors with line numbers, shell safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from releaser.errors import ConfigError
from releaser.release.envfile import parse_env_text, read_env_file, shell_problem


def test_reads_keys_values_and_line_numbers(tmp_path: Path) -> None:
    """Comments, blank lines, export and quotes are handled; each entry keeps its line."""
    path = tmp_path / ".env"
    path.write_text(
        "# settings\n\nexport A=1\nB='two words'\nC=\"x\\ny\"\nD=\n  E = spaced # note\n"
    )
    env = read_env_file(path)
    assert env.values() == {"A": "1", "B": "two words", "C": "x\ny", "D": "", "E": "spaced"}
    assert [e.line for e in env.entries] == [3, 4, 5, 6, 7]


def test_values_are_not_interpolated(tmp_path: Path) -> None:
    """${VAR} stays literal: Render stores values literally, so drift compares literally."""
    env = parse_env_text("A=1\nB='${A}-x'\n", tmp_path / ".env")
    assert env.values()["B"] == "${A}-x"


def test_key_without_equals_names_file_and_line(tmp_path: Path) -> None:
    """A line with no '=' is an error naming the file and line, never the line's text
    (often a pasted secret value)."""
    path = tmp_path / ".env"
    path.write_text("A=1\n\nhdSx5ihvrkSkt4NaihT3tM50YkV63bAcr_KJO06fBg\n")
    with pytest.raises(ConfigError) as err:
        read_env_file(path)
    assert err.value.one_line().startswith(f"{path}:3: this line has no '='.")
    assert "hdSx5" not in err.value.one_line()
    assert err.value.exit_code == 2


def test_unparsable_line_names_file_and_line_without_content(tmp_path: Path) -> None:
    """An unbalanced quote is reported by line; the line's content (maybe a secret) is not."""
    path = tmp_path / ".env"
    path.write_text('A=1\nPASSWORD="hunter2-never-shown\nB=2 3 x\n')
    with pytest.raises(ConfigError) as err:
        read_env_file(path)
    message = err.value.one_line()
    assert message.startswith(f"{path}:2: cannot parse this line")
    assert "hunter2" not in message


def test_missing_and_non_utf8_files_are_input_errors(tmp_path: Path) -> None:
    """A missing file or one that is not UTF-8 is exit 2 with the path (and line)."""
    with pytest.raises(ConfigError, match="does not exist"):
        read_env_file(tmp_path / "nope.env")
    path = tmp_path / "latin.env"
    path.write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin\.env:2: not UTF-8"):
        read_env_file(path)


@pytest.mark.parametrize(
    ("raw", "unsafe"),
    [
        ("plain-value_123", False),
        ("p@ss&word", True),
        ("abc)def", True),
        ("two words", True),
        ("$HOME/x", True),
        ("'p@ss&word)'", False),
        ('"p@ss&word"', False),
        ('"cost$5"', True),
        ("a#b", False),
        ("https://a.example/?x=1", True),
    ],
)
def test_shell_special_characters_are_flagged(raw: str, unsafe: bool) -> None:
    """Values that 'source .env' would mangle are flagged; single-quoted ones are safe."""
    assert (shell_problem(raw) is not None) is unsafe


def test_shell_unsafe_entries_carry_the_reason(tmp_path: Path) -> None:
    """The parsed file lists its unsafe entries with key, line and reason (no value)."""
    env = parse_env_text("OK=fine\nDB_PASSWORD=Tr0ub4dor&3)\n", tmp_path / ".env")
    [entry] = env.shell_unsafe
    assert (entry.key, entry.line) == ("DB_PASSWORD", 2)
    assert entry.shell_reason is not None and "& )" in entry.shell_reason
    assert "Tr0ub4dor" not in entry.shell_reason
