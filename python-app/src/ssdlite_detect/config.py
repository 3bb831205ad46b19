"""`--config FILE`, in every mode: a TOML file whose keys are the long options without their
dashes, with the same meaning and the same checks (`score-threshold = 0.6`, `source = "camera"`,
`http = "0.0.0.0:8080"`).

Values from the file become the parser's defaults, so the command line still wins. The board's
file is /etc/ssdlite-detect/ssdlite-detect.toml (installed by the layer, documented line by line).
"""
from __future__ import annotations

import argparse
from typing import Mapping, Tuple

from .errors import DetectError
from .files import UserFileError, read_small_text
from .urls import redact_url

BOARD_CONFIG = "/etc/ssdlite-detect/ssdlite-detect.toml"
NOT_IN_FILES = ("config", "help")
# Tables of a config file that are not long options: the objects' zones, lines and tracker
# (analytics/zones.py reads them; --zones FILE holds the same tables).
REGION_TABLES = ("zones", "lines", "tracking")


class ConfigError(DetectError):
    exit_code = 2


def read_toml(path: str, option: str = "--config") -> dict:
    """The TOML file of `option` (--config, --zones); ConfigError (one line) if it cannot be read."""
    try:
        import tomllib  # Python 3.11+; the board's Python is 3.11
    except ImportError:
        raise ConfigError(f"{option} {path}: reading TOML needs Python 3.11 or newer (tomllib); "
                          "give the settings as options instead") from None
    try:
        return tomllib.loads(read_small_text(path))
    except UserFileError as error:
        raise ConfigError(f"{option} {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{option} {path}: not valid TOML: {error}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise ConfigError(f"{option} {path}: not valid TOML: nested too deeply") from None


def settings_from_table(long_options: Mapping[str, argparse.Action], table: dict, path: str) -> dict:
    """{dest: value} for the parser's defaults, from a table of {long option: value};
    ConfigError (one line) for an unknown key or a value the option itself would refuse.
    long_options: the parser's long options by name (commands.options.OptionRegistry)."""
    settings = {}
    for key, value in table.items():
        if key in REGION_TABLES:
            continue
        action = long_options.get(key)
        if action is None or key in NOT_IN_FILES:
            raise ConfigError(f"{path}: unknown setting {key!r} (the settings are the long options, e.g. source, http)")
        # A value may hold a password (mqtt, source URLs): shown only without it.
        if isinstance(value, str):
            shown = repr(redact_url(value))
        else:
            shown = repr(value) if isinstance(value, (bool, int, float)) else f"a TOML {type(value).__name__}"
        where = f"{path}: {key} = {shown}"
        if action.nargs == 0:  # a flag: true or false
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: expected true or false")
            settings[action.dest] = value
            continue
        if isinstance(value, (bool, dict, list)):
            raise ConfigError(f"{where}: expected a string or a number")
        text = str(value)
        try:
            converted = action.type(text) if action.type is not None else text
        except (argparse.ArgumentTypeError, ValueError) as error:
            # The option's own message may quote the value: quoted without its password, too.
            message = str(error).replace(text, redact_url(text)) if text else str(error)
            raise ConfigError(f"{where}: {message or 'invalid value'}") from None
        if action.choices is not None and converted not in action.choices:
            raise ConfigError(f"{where}: expected one of {', '.join(map(str, action.choices))}")
        settings[action.dest] = converted
    return settings


def load_settings(long_options: Mapping[str, argparse.Action], path: str) -> Tuple[dict, dict]:
    """(settings, region tables) of the TOML file at `path`: the settings checked (see
    settings_from_table), the REGION_TABLES as they are (analytics/zones.py checks them)."""
    table = read_toml(path)
    regions = {key: table[key] for key in REGION_TABLES if key in table}
    return settings_from_table(long_options, table, path), regions
