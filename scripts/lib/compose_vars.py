#!/usr/bin/env python3
"""Checks that every variable the compose files interpolate is documented.

    compose_vars.py ENV_EXAMPLE COMPOSE_FILE...

A variable is documented when ENV_EXAMPLE has a `NAME=value` line directly
under at least one comment line (its meaning). Fails (exit 1) when a compose
file references an undocumented variable, when ENV_EXAMPLE documents one no
compose file uses, or when a default in ENV_EXAMPLE differs from a
`${NAME:-default}` in a compose file.

Interpolation follows the Compose specification: `$NAME`, `${NAME}`,
`${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`,
`${NAME:+alt}`, `${NAME+alt}` (defaults may nest), and `$$` is a literal `$`.
Only values are interpolated, so YAML comments are ignored.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
BRACED = re.compile(r"\$\{(" + NAME + r")(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}")
BARE = re.compile(r"\$(" + NAME + r")")
ENV_LINE = re.compile(r"^(" + NAME + r")=(.*)$")


@dataclass
class Reference:
    file: str
    # Defaults given with `:-` or `-`, as written.
    defaults: set[str] = field(default_factory=set)


def strings(node):
    """Every string value in a parsed YAML document (keys are not interpolated)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def references(text: str):
    """(name, operator, argument) of every interpolation in one string."""
    text = text.replace("$$", "")
    found = []
    for match in BRACED.finditer(text):
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        found.append((name, operator, argument))
        # A default may itself interpolate: ${A:-${B}}.
        found.extend(references(argument))
    found.extend((name, None, "") for name in BARE.findall(BRACED.sub("", text)))
    return found


def compose_references(paths: list[Path]) -> dict[str, Reference]:
    refs: dict[str, Reference] = {}
    for path in paths:
        document = yaml.safe_load(path.read_text())
        for value in strings(document):
            if "${" in value and not BRACED.search(value.replace("$$", "")):
                raise SystemExit(f"{path}: malformed interpolation in {value!r}")
            for name, operator, argument in references(value):
                ref = refs.setdefault(name, Reference(file=str(path)))
                if operator in (":-", "-") and "$" not in argument:
                    ref.defaults.add(argument)
    return refs


def documented(path: Path) -> dict[str, str]:
    """NAME → value of every `NAME=value` line that has a comment above it."""
    names: dict[str, str] = {}
    problems = []
    previous = ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = ENV_LINE.match(line)
        if match:
            name, value = match.groups()
            if name in names:
                problems.append(f"{path}:{number}: {name} is listed twice")
            if not previous.startswith("#"):
                problems.append(f"{path}:{number}: {name} has no comment line above it saying what it means")
            names[name] = value
        elif line.strip() and not line.startswith("#"):
            problems.append(f"{path}:{number}: not a comment or NAME=value line: {line!r}")
        previous = line.strip()
    if problems:
        raise SystemExit("\n".join(problems))
    return names


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    env_example, compose_files = Path(argv[1]), [Path(p) for p in argv[2:]]
    refs = compose_references(compose_files)
    docs = documented(env_example)
    problems = []
    for name in sorted(refs.keys() - docs.keys()):
        problems.append(f"{name} (used in {refs[name].file}) is not documented in {env_example}")
    for name in sorted(docs.keys() - refs.keys()):
        problems.append(f"{name} is documented in {env_example} but no compose file uses it")
    for name in sorted(refs.keys() & docs.keys()):
        value = docs[name]
        for default in sorted(refs[name].defaults):
            if value and default != value:
                problems.append(f"{name}: {env_example} says {value!r} but a compose file defaults to {default!r}")
    for problem in problems:
        print(f"compose variables: {problem}", file=sys.stderr)
    if not problems:
        print(f"compose variables: {len(refs)} referenced, all documented in {env_example}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
