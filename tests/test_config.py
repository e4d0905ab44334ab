"""Settings: where they are found, their precedence, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leakwatch._base.model import KINDS, parse_kinds
from leakwatch._report.errors import ConfigError
from leakwatch._rules.config import Config, find_config_file, load_config
from leakwatch._rules.ignore import IgnoreRule


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(start: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(start, env=env or {})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("leakwatch: ")
    return message


def test_no_file_and_no_environment_gives_the_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={})
    assert config == Config()
    assert config.config_file is None
    assert config.kinds == ("fd", "thread", "task", "timer", "process", "tempfile")
    assert (config.settle_attempts, config.settle_budget, config.repeat) == (20, 0.5, 5)
    assert (config.enabled, config.on_leak, config.scope) == (False, "raise", "test")


def test_pyproject_is_found_walking_up(tmp_path: Path) -> None:
    pyproject = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.leakwatch]\nkinds = ["fd", "thread"]\nrepeat = 3\n',
    )
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    config = load_config(deep, env={})
    assert config.kinds == ("fd", "thread")
    assert config.repeat == 3
    assert config.config_file == str(pyproject)
    assert find_config_file(deep) == pyproject


def test_pyproject_without_the_table_is_passed_over(tmp_path: Path) -> None:
    write(tmp_path / "leakwatch.toml", "repeat = 9\n")
    write(tmp_path / "sub" / "pyproject.toml", "[tool.ruff]\nline-length = 100  # leakwatch\n")
    assert load_config(tmp_path / "sub", env={}).repeat == 9


def test_the_nearest_file_wins(tmp_path: Path) -> None:
    write(tmp_path / "leakwatch.toml", "repeat = 9\n")
    write(tmp_path / "sub" / "leakwatch.toml", "repeat = 2\n")
    assert load_config(tmp_path / "sub", env={}).repeat == 2


def test_leakwatch_toml_wins_over_pyproject_in_one_directory(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.leakwatch]\nrepeat = 3\nwarmup = 4\n")
    write(tmp_path / "leakwatch.toml", "repeat = 7\n")
    config = load_config(tmp_path, env={})
    assert config.repeat == 7
    assert config.warmup == 1  # nothing is merged from the losing file
    assert config.config_file == str(tmp_path / "leakwatch.toml")


def test_leakwatch_toml_may_use_a_leakwatch_table(tmp_path: Path) -> None:
    write(tmp_path / "leakwatch.toml", '[leakwatch]\nscope = "module"\n')
    assert load_config(tmp_path, env={}).scope == "module"


def test_a_file_below_start_is_not_read(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "leakwatch.toml", "repeat = 2\n")
    assert load_config(tmp_path, env={}).repeat == 5


def test_precedence_file_then_environment_then_overrides(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.leakwatch]\nkinds = "fd"\nsettle_budget = 0.3\nrepeat = 3\non_leak = "warn"\n',
    )
    env = {"LEAKWATCH_SETTLE_BUDGET": "0.2", "LEAKWATCH_REPEAT": "4", "LEAKWATCH_ON_LEAK": "report"}
    config = load_config(tmp_path, env=env, overrides={"repeat": 7})
    assert config.kinds == ("fd",)  # file only
    assert config.settle_budget == 0.2  # environment over file
    assert config.on_leak == "report"  # environment over file
    assert config.repeat == 7  # overrides over environment over file
    # ... and a marker or API argument comes last, through replace().
    assert config.replace(repeat=9, kinds=["thread"]).repeat == 9


def test_environment_values_are_parsed(tmp_path: Path) -> None:
    env = {
        "LEAKWATCH_KINDS": "fd, thread,task",
        "LEAKWATCH_ENABLED": "yes",
        "LEAKWATCH_VERBOSE": "On",
        "LEAKWATCH_STRICT_STATE": "0",
        "LEAKWATCH_SETTLE_ATTEMPTS": "3",
        "LEAKWATCH_MIN_GROWTH": "64",
        "LEAKWATCH_JSON": "out/report.json",
    }
    config = load_config(tmp_path, env=env)
    assert config.kinds == ("fd", "thread", "task")
    assert (config.enabled, config.verbose, config.strict_state) == (True, True, False)
    assert (config.settle_attempts, config.min_growth) == (3, 64)
    assert config.json == "out/report.json"  # environment paths stay as given
    assert load_config(tmp_path, env={"LEAKWATCH_KINDS": "all"}).kinds == KINDS


def test_leakwatch_1_is_short_for_enabled_and_the_long_name_wins(tmp_path: Path) -> None:
    assert load_config(tmp_path, env={"LEAKWATCH": "1"}).enabled is True
    assert load_config(tmp_path, env={"LEAKWATCH": "0"}).enabled is False
    both = {"LEAKWATCH": "1", "LEAKWATCH_ENABLED": "false"}
    assert load_config(tmp_path, env=both).enabled is False


def test_empty_variables_are_unset_except_output_paths(tmp_path: Path) -> None:
    write(tmp_path / "leakwatch.toml", 'repeat = 3\nbaseline = "base.json"\n')
    config = load_config(tmp_path, env={"LEAKWATCH_REPEAT": "", "LEAKWATCH_BASELINE": ""})
    assert config.repeat == 3
    assert config.baseline is None


def test_internal_variables_are_left_alone(tmp_path: Path) -> None:
    assert load_config(tmp_path, env={"LEAKWATCH__CHILD": "1", "LEAKWATCHER": "x"}) == Config()


def test_unknown_key_names_key_and_file_and_suggests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "pyproject.toml", '[tool.leakwatch]\nkindz = ["fd"]\n')
    monkeypatch.chdir(tmp_path)
    assert error_of(tmp_path) == (
        "leakwatch: pyproject.toml [tool.leakwatch]: unknown key 'kindz' (did you mean 'kinds'?)"
    )


def test_unknown_key_without_a_near_miss(tmp_path: Path) -> None:
    write(tmp_path / "leakwatch.toml", "colour = true\n")
    message = error_of(tmp_path)
    assert "leakwatch.toml" in message
    assert message.endswith("unknown key 'colour'")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('settle_budget = "fast"', "'settle_budget' must be a number >= 0, got 'fast'"),
        ("settle_budget = -1", "'settle_budget' must be a number >= 0, got -1"),
        ("repeat = 0", "'repeat' must be an integer >= 1, got 0"),
        ("warmup = 1.5", "'warmup' must be an integer >= 0, got 1.5"),
        ("settle_attempts = true", "'settle_attempts' must be an integer >= 0, got True"),
        ('enabled = "yes"', "'enabled' must be true or false, got 'yes'"),
        ('kinds = ["fd", "gpu"]', "'kinds' must be kinds from fd, thread, task"),
        ("kinds = []", "'kinds' must be kinds from"),
        ('scope = "class"', "'scope' must be one of 'test', 'module', 'session', got 'class'"),
        ('on_leak = "explode"', "'on_leak' must be one of 'raise', 'warn', 'report'"),
        ("baseline = 3", "'baseline' must be a file path, got 3"),
        ('ignore = "everything"', "'ignore' must be a list of rules"),
    ],
)
def test_bad_values_name_key_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, expected: str
) -> None:
    write(tmp_path / "leakwatch.toml", line + "\n")
    monkeypatch.chdir(tmp_path)
    assert error_of(tmp_path).startswith(f"leakwatch: leakwatch.toml: {expected}")


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"LEAKWATCH_SETTLE_BUDGET": "fast"})
    assert message == (
        "leakwatch: environment LEAKWATCH_SETTLE_BUDGET: "
        "'settle_budget' must be a number >= 0, got 'fast'"
    )
    assert "LEAKWATCH_ENABLED" in error_of(tmp_path, {"LEAKWATCH_ENABLED": "maybe"})


def test_unknown_environment_variable_suggests(tmp_path: Path) -> None:
    message = error_of(tmp_path, {"LEAKWATCH_KINDZ": "fd"})
    assert "LEAKWATCH_KINDZ" in message
    assert "did you mean 'LEAKWATCH_KINDS'?" in message


def test_ignore_cannot_come_from_the_environment(tmp_path: Path) -> None:
    assert "ignore rules can only be set" in error_of(tmp_path, {"LEAKWATCH_IGNORE": "x"})


def test_malformed_toml_is_one_line_with_file_and_parser_message(tmp_path: Path) -> None:
    path = write(tmp_path / "leakwatch.toml", "repeat = 3\nkinds = [fd\n")
    message = error_of(tmp_path)
    assert message.startswith(f"leakwatch: {path}: invalid TOML: ")
    assert "line 2" in message


def test_malformed_pyproject_naming_leakwatch_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.leakwatch\nrepeat = 3\n")
    assert error_of(tmp_path).startswith(f"leakwatch: {path}: invalid TOML")


def test_table_not_a_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool]\nleakwatch = 3\n")
    assert error_of(tmp_path).endswith("[tool.leakwatch]: must be a table")


def test_relative_paths_in_a_file_are_relative_to_it(tmp_path: Path) -> None:
    absolute = str(tmp_path / "elsewhere" / "r.html")
    write(
        tmp_path / "leakwatch.toml",
        f'baseline = "ci/base.json"\nhtml = {json.dumps(absolute)}\n',
    )
    config = load_config(tmp_path / "leakwatch.toml", env={})  # a file as start: its directory
    assert config.baseline == str(tmp_path / "ci" / "base.json")
    assert config.html == absolute
    assert config.json is None


def test_ignore_rules_from_a_file(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        "[[tool.leakwatch.ignore]]\n"
        'reason = "pool by design"\nkind = "fd"\nfunction = "myapp.pool.*"\n\n'
        "[[tool.leakwatch.ignore]]\n"
        'reason = "poller"\nthread_name = "poller-*"\n',
    )
    rules = load_config(tmp_path, env={}).ignore
    assert rules == (
        IgnoreRule("pool by design", kind="fd", function="myapp.pool.*"),
        IgnoreRule("poller", thread_name="poller-*"),
    )
    assert "[tool.leakwatch] ignore #2" in rules[1].source


def test_ignore_rule_without_reason_names_file_and_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path / "leakwatch.toml",
        '[[ignore]]\nreason = "ok"\nkind = "fd"\n\n[[ignore]]\nkind = "thread"\n',
    )
    monkeypatch.chdir(tmp_path)
    assert error_of(tmp_path) == (
        "leakwatch: leakwatch.toml ignore #2: an ignore rule needs a non-empty 'reason'"
    )


def test_replace_validates_and_leaves_the_original(tmp_path: Path) -> None:
    config = Config()
    changed = config.replace(kinds="fd,heap", settle_budget=1, baseline=tmp_path / "b.json")
    assert changed.kinds == ("fd", "heap")
    assert changed.settle_budget == 1.0 and isinstance(changed.settle_budget, float)
    assert changed.baseline == str(tmp_path / "b.json")
    assert config == Config()
    with pytest.raises(
        ConfigError,
        match=r"Config.replace\(\): unknown key 'setle_budget' \(did you mean 'settle_budget'\?\)",
    ):
        config.replace(setle_budget=1)
    with pytest.raises(ConfigError, match="'repeat' must be an integer >= 1, got -2"):
        config.replace(repeat=-2)
    with pytest.raises(ConfigError, match="'warmup'"):
        Config(warmup=-1)


def test_overrides_are_validated_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="leakwatch: override: 'scope' must be one of"):
        load_config(tmp_path, env={}, overrides={"scope": "package"})


def test_to_dict_is_plain_data(tmp_path: Path) -> None:
    config = Config(ignore=(IgnoreRule("why", kind="thread"),), kinds=("fd",))
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["kinds"] == ["fd"]
    assert data["ignore"] == [{"reason": "why", "kind": "thread"}]


def test_api_errors_name_the_keyword_the_user_typed() -> None:
    import leakwatch

    with pytest.raises(ConfigError) as info:
        leakwatch.watch(kinds=("fd", "thred"))
    assert str(info.value).startswith(
        "leakwatch: watch(kinds=...): unknown kind 'thred' (did you mean 'thread'?); kinds: fd,"
    )
    with pytest.raises(ConfigError, match=r"^leakwatch: watch\(settle_budget=...\): must be a"):
        leakwatch.watch(settle_budget=-1)
    with pytest.raises(ConfigError, match=r"^leakwatch: check\(kinds=...\): unknown kind 'x';"):
        leakwatch.check(print, kinds=("x",))
    with pytest.raises(ConfigError, match=r"^leakwatch: watch\(setle_budget=...\): unknown option"):
        leakwatch.watch(setle_budget=1)
    # Config.replace() is what its callers typed: it keeps its own name.
    with pytest.raises(ConfigError, match=r"^leakwatch: Config.replace\(\): 'kinds' must be"):
        Config().replace(kinds=("x",))


def test_cli_errors_name_the_option_the_user_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leakwatch._cli import main

    script = tmp_path / "script.py"
    script.write_text("print('ran')\n")
    assert main(["run", "--kinds", "fd,x", str(script)]) == 2
    err = capsys.readouterr().err
    assert "leakwatch: --kinds: unknown kind 'x'; kinds: fd, thread" in err, err
    assert "override" not in err and "ran" not in err


def test_one_reading_of_kinds_for_config_and_markers() -> None:
    assert parse_kinds(" fd, thread,fd ") == ("fd", "thread")
    assert parse_kinds(["all"]) == KINDS and parse_kinds(("task",)) == ("task",)
    assert parse_kinds({"timer"}) == ("timer",)
    assert parse_kinds("", allow_empty=True) == ()
    for value, reason in (
        (5, "shape"),
        (["fd", 3], "shape"),
        ("fd,sockets", "unknown"),
        ("", "empty"),
    ):
        with pytest.raises(ValueError) as info:
            parse_kinds(value)
        assert info.value.args[0] == reason
    assert Config(kinds={"fd"}).kinds == ("fd",)  # a set, as a marker may give
    with pytest.raises(ConfigError, match="kinds from fd, thread"):
        Config(kinds=("sockets",))
