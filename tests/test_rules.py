"""Rules file loading: packaged defaults, partial overrides, and errors that name the key."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from aftersales_kit.errors import RulesError
from aftersales_kit.rules import RULE_NAMES, SceneRule, load_rules


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_domain() -> None:
    rules = load_rules()
    assert dict(rules.thresholds) == {
        "audit_over_24h": 24.0,
        "return_ship_over_24h": 24.0,
        "tracking_stale_over_48h": 48.0,
        "transit_over_72h": 72.0,
        "inbound_over_24h": 24.0,
        "inbound_over_48h": 48.0,
        "process_over_24h": 24.0,
        "refund_over_24h": 24.0,
        "total_over_60h": 60.0,
    }
    assert tuple(rules.thresholds) == RULE_NAMES
    assert rules.holidays == (
        (datetime(2024, 2, 4), datetime(2024, 2, 19)),
        (datetime(2025, 1, 24), datetime(2025, 2, 7)),
        (datetime(2026, 2, 12), datetime(2026, 2, 26)),
        (datetime(2027, 2, 1), datetime(2027, 2, 15)),
        (datetime(2028, 1, 21), datetime(2028, 2, 4)),
    )
    assert [s.scene for s in rules.scenes] == [
        "取消",
        "拒绝",
        "直赔/补发",
        "闪电退款",
        "线下换新",
        "返修换新",
        "仅退款",
    ]
    assert rules.scenes[0] == SceneRule(
        scene="取消",
        fields=("status",),
        values=("取消",),
        stop="first_audit",
        missing_stop="cancelled_before_audit",
    )
    assert rules.scenes[1].fields == ("status", "approve_result")
    assert rules.scenes[1].values == ("审核关闭", "审核不通过", "拒绝")
    assert rules.scenes[2] == SceneRule(
        scene="直赔/补发",
        fields=("return_method", "approve_result", "service_type"),
        values=("补发商品",),
        stop="first_audit",
        prefixes=("直赔",),
    )
    assert rules.scenes[3].fields == ("flash_refund", "return_method", "approve_result")
    assert rules.scenes[4].values == ("上门换新", "线下换新")
    assert rules.scenes[6].values == ("仅退款", "已收货退款", "未收货退款", "售前退款")
    assert (rules.window_days, rules.history_days) == (30, 180)
    assert (rules.warning_hours, rules.target_hours) == (60.0, 60.0)
    assert dict(rules.stage_targets) == {
        "audit": 24.0,
        "return_ship": 24.0,
        "transit": 72.0,
        "inbound": 12.0,
        "process": 24.0,
    }
    assert (rules.warning_star, rules.warning_rank) == (3.5, 0.20)
    assert rules.source is None


def test_partial_override_keeps_the_rest(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
window_days = 7
[thresholds]
audit_over_24h = 12
[[holidays]]
from = "2026-02-10 12:00:00"
to = 2026-02-20
""",
    )
    rules = load_rules(path)
    assert rules.window_days == 7
    assert rules.history_days == 180
    assert rules.thresholds["audit_over_24h"] == 12.0
    assert isinstance(rules.thresholds["audit_over_24h"], float)
    assert rules.thresholds["transit_over_72h"] == 72.0
    # arrays replace the default array whole
    assert rules.holidays == ((datetime(2026, 2, 10, 12), datetime(2026, 2, 20)),)
    assert len(rules.scenes) == 7
    assert rules.source == path


def test_scene_table_can_be_replaced(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[scenes]]
scene = "极速退款"
field = "approve_result"
values = ["极速退款"]
stop = "first_process"
""",
    )
    rules = load_rules(path)
    assert rules.scenes == (
        SceneRule("极速退款", ("approve_result",), ("极速退款",), "first_process", "missing_end"),
    )


def test_as_dict_round_trips_plain_data() -> None:
    data = load_rules().as_dict()
    assert data["holidays"][0] == ["2024-02-04 00:00:00", "2024-02-19 00:00:00"]
    assert data["scenes"][0]["scene"] == "取消"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("foo = 1", r"unknown key\) foo"),
        ("[thresholds]\naudit_over_12h = 3", r"thresholds\.audit_over_12h"),
        ("[thresholds]\naudit_over_24h = -1", r"thresholds\.audit_over_24h .*negative"),
        ('[thresholds]\naudit_over_24h = "24"', r"thresholds\.audit_over_24h .*number"),
        ("[thresholds]\naudit_over_24h = true", r"thresholds\.audit_over_24h"),
        ("window_days = 2.5", r"window_days .*integer"),
        ("window_days = 0", r"window_days"),
        ("history_days = 10", r"history_days"),
        ("warning_rank = 1.5", r"warning_rank"),
        ("thresholds = 3", r"thresholds"),
        ("[stage_targets]\nwait = 3", r"stage_targets\.wait"),
        ("[[holidays]]\nfrom = 2026-02-20\nto = 2026-02-20", r"holidays\.0\.from"),
        ("[[holidays]]\nfrom = 2026-02-21\nto = 2026-02-20", r"holidays\.0\.from"),
        ('[[holidays]]\nfrom = "2026-02-30"\nto = 2026-03-20', r"holidays\.0\.from .*date"),
        ("[[holidays]]\nfrom = 2026-02-01", r"holidays\.0"),
        ("[[holidays]]\nfrom = 2026-02-01\nto = 2026-02-05\nnote = 1", r"holidays\.0\.note"),
        (
            '[[scenes]]\nscene = "x"\nfield = "status"\nvalues = ["x"]\nstop = "sign"',
            r"scenes\.0\.stop",
        ),
        (
            '[[scenes]]\nscene = "x"\nfield = "apply_time"\nvalues = ["x"]\nstop = "first_audit"',
            r"scenes\.0\.field",
        ),
        ('[[scenes]]\nscene = "x"\nfield = "status"\nstop = "first_audit"', r"scenes\.0\.values"),
        (
            '[[scenes]]\nscene = "x"\nfield = "status"\nvalues = [1]\nstop = "first_audit"',
            r"scenes\.0\.values",
        ),
        ("terminal_statuses = '完成'", r"terminal_statuses"),
        ("window_days = ", r"invalid TOML"),
    ],
)
def test_invalid_file_names_the_key(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(RulesError, match=match):
        load_rules(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="not found"):
        load_rules(tmp_path / "nope.toml")


def test_vocabulary_enums_keep_the_strings() -> None:
    """Stage/Rule/ExcludedReason are StrEnums; the tuple aliases stay plain strings (issue 13)."""
    from aftersales_kit.rules import (
        EXCLUDED_REASONS,
        RULE_NAMES,
        STAGES,
        STOPS,
        ExcludedReason,
        Rule,
        Stage,
        Stop,
    )

    for enum_type, names in (
        (Stage, STAGES),
        (Rule, RULE_NAMES),
        (ExcludedReason, EXCLUDED_REASONS),
        (Stop, STOPS),
    ):
        assert names == tuple(enum_type)
        assert all(type(n) is str for n in names)
    assert Stage.RETURN_SHIP == "return_ship" and f"{Rule.TOTAL_OVER_60H}" == "total_over_60h"
    assert load_rules().thresholds[Rule.AUDIT_OVER_24H] == 24.0


def test_rules_pickle_and_stay_read_only() -> None:
    """The report hands a kernel the rules as a pickle: equal after the trip, still frozen."""
    import pickle

    rules = load_rules({"thresholds": {"audit_over_24h": 12}})
    back = pickle.loads(pickle.dumps(rules))
    assert back == rules and back.thresholds["audit_over_24h"] == 12
    with pytest.raises(TypeError):
        back.thresholds["audit_over_24h"] = 1  # type: ignore[index]
