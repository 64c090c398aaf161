"""`--help` as plain text that fits the terminal: options grouped, every default shown, examples last.

Defaults come from :class:`~wlk_cli.config.Settings` (where each option is declared), so the help
cannot drift from what a run uses; a help text that says more (a default that depends on the policy)
keeps its own ``[default: ...]``.
"""

from __future__ import annotations

from typing import Any

import typer.core
from typer import _click as click  # typer 0.29 carries its own click: its types, not the click package's

from wlk_cli.config import GROUPS, OPTS
from wlk_cli.config import default_of as setting_default

GENERAL = "Options"
ORDER = (*GROUPS.values(), GENERAL)


def _setting_defaults() -> dict[str, Any]:
    """The default of every setting, by the name of the command parameter that sets it."""
    return {o.param or name: setting_default(name) for name, o in OPTS.items()}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(value) if value else "none"
    if value == "":
        return "none"
    return str(value)


def default_of(param: click.Parameter, settings: dict[str, Any]) -> str | None:
    """What a run uses when the option is not given."""
    name = param.name or ""
    if name in settings:
        return _shown(settings[name])
    if param.default is None:
        return "none"
    return None if callable(param.default) else _shown(param.default)


class GroupedCommand(typer.core.TyperCommand):
    """Options in sections (Input, Model, Policy, VAD, Speakers, Output), each with its default."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        settings = _setting_defaults()
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or param.param_type_name == "argument":
                continue
            names, text = record
            text = " ".join(_without_click_extras(text).split())
            if "[default:" not in text and param.name not in ("help", "version"):
                shown = default_of(param, settings)
                if shown is not None:
                    text = f"{text} [default: {shown}]".strip()
            panel = getattr(param, "rich_help_panel", None) or GENERAL
            sections.setdefault(panel, []).append((names, text))
        for panel in sorted(sections, key=lambda p: ORDER.index(p) if p in ORDER else len(ORDER)):
            with formatter.section(panel):
                formatter.write_dl(sections[panel], col_max=28)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not self.epilog:
            return
        with formatter.section("Examples"):
            for line in self.epilog.strip().splitlines():
                formatter.write_text("\b\n" + line.strip())


def _without_click_extras(text: str) -> str:
    """Drop click's own "[default: None]" / "[required]"-style tails; ours are added above."""
    if text.endswith("]") and "[default: None]" in text:
        text = text.replace("[default: None]", "").rstrip()
    return text
