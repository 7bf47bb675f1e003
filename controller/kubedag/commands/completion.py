"""Shell completion: `kubedag completion bash|zsh` prints a script that asks
`kubedag __complete WORD...` for the candidates, which the command's own parser gives
(subcommands, options, choices) and the cluster (DAG, run and namespace names, in the
namespace the command line names, else the kubeconfig's). `kubectl kubedag <TAB>` works
through kubectl's plugin completion, which runs `kubectl_complete-kubedag`."""

import argparse
import asyncio
import os
from collections.abc import Callable, Sequence
from typing import Any

# The positional arguments (by dest) whose values are objects in the cluster.
_OBJECTS: dict[str, tuple[str, ...]] = {
    "dag": ("dags",),
    "run": ("dagruns",),
    "name": ("dagruns", "dags"),  # clear: a run, or a DAG with --from/--to
}
# Option values (by dest) that are objects in the cluster.
_OPTION_OBJECTS: dict[str, tuple[str, ...]] = {"namespace": ("namespaces",)}
# How long a lookup in the cluster may take before completion offers nothing (a shell
# waits on it); KUBEDAG_COMPLETION_TIMEOUT overrides it.
LOOKUP_SECONDS = 3.0

# kind ("dags", "dagruns", "namespaces"), namespace -> names
Names = Callable[[str, str | None], list[str]]

BASH = """# kubedag completion for bash: source <(kubedag completion bash)
_kubedag_complete() {
    local IFS=$'\\n'
    COMPREPLY=($("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:$COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _kubedag_complete kubedag kubectl-kubedag
"""

ZSH = """#compdef kubedag kubectl-kubedag
# kubedag completion for zsh: source <(kubedag completion zsh)
_kubedag() {
    local -a candidates
    candidates=("${(@f)$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    if [[ -n ${candidates[1]} ]]; then
        compadd -a candidates
    else
        _files
    fi
}
compdef _kubedag kubedag kubectl-kubedag
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh): source <(kubedag completion bash)",
    )
    p.add_argument("shell", choices=sorted(SCRIPTS))
    p.set_defaults(func=lambda args: print(SCRIPTS[args.shell], end="") or 0)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return dict(parser._option_string_actions)


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def candidates(parser: argparse.ArgumentParser, words: Sequence[str], names: Names) -> list[str]:
    """What may come as the last of `words` (the words after the program's name, the last
    one being typed), starting with what is typed of it."""
    *before, current = list(words) or [""]
    namespace: str | None = None
    positionals: list[str] = []
    index = 0
    while index < len(before):
        word = before[index]
        option = _options(parser).get(word.split("=", 1)[0]) if word.startswith("-") else None
        if option is not None and _takes_value(option) and "=" not in word:
            value = before[index + 1] if index + 1 < len(before) else None
            if option.dest == "namespace" and value:
                namespace = value
            index += 2
            continue
        if option is not None and option.dest == "namespace" and "=" in word:
            namespace = word.split("=", 1)[1]
        if not word.startswith("-"):
            inner = _subcommands(parser)
            if word in inner and not positionals:
                parser = inner[word]
            else:
                positionals.append(word)
        index += 1
    previous = _options(parser).get(before[-1]) if before else None
    if previous is not None and _takes_value(previous) and "=" not in before[-1]:
        found = _values(previous, namespace, names)
    elif current.startswith("-"):
        found = sorted(o for o in _options(parser) if o.startswith("--") or len(o) == 2)
    elif _subcommands(parser) and not positionals:
        found = sorted(_subcommands(parser))
    else:
        found = _positional(parser, len(positionals), namespace, names)
    return [c for c in found if c.startswith(current)]


def _values(action: argparse.Action, namespace: str | None, names: Names) -> list[str]:
    if action.choices is not None:
        return [str(c) for c in action.choices]
    kinds = _OPTION_OBJECTS.get(action.dest, ())
    return sorted({n for kind in kinds for n in names(kind, namespace)})


def _positional(
    parser: argparse.ArgumentParser, given: int, namespace: str | None, names: Names
) -> list[str]:
    positional = [a for a in parser._actions if not a.option_strings and a.dest != "help"]
    positional = [a for a in positional if not isinstance(a, argparse._SubParsersAction)]
    if not positional:
        return []
    action = positional[min(given, len(positional) - 1)]
    if given >= len(positional) and action.nargs not in ("+", "*"):
        return []
    if action.choices is not None:
        return [str(c) for c in action.choices]
    kinds = _OBJECTS.get(action.dest, ())
    return sorted({n for kind in kinds for n in names(kind, namespace)})


def live_names(kubeconfig: str | None) -> Names:
    """Names from the cluster the kubeconfig points at (nothing when it does not answer in
    time: completion must not hang the shell)."""

    try:
        seconds = float(os.environ.get("KUBEDAG_COMPLETION_TIMEOUT", LOOKUP_SECONDS))
    except ValueError:
        seconds = LOOKUP_SECONDS

    def lookup(kind: str, namespace: str | None) -> list[str]:
        try:
            return asyncio.run(asyncio.wait_for(_list(kubeconfig, kind, namespace), seconds))
        except Exception:
            return []

    return lookup


async def _list(kubeconfig: str | None, kind: str, namespace: str | None) -> list[str]:
    from kubedag.commands.common import current_namespace
    from kubedag.kube.client import Kube, custom_path

    kube = await Kube.connect(kubeconfig)
    try:
        if kind == "namespaces":
            path = "/api/v1/namespaces"
        else:
            path = custom_path(kind, namespace or current_namespace(kubeconfig))
        listed = await kube.request("GET", path)
        return [str(item["metadata"]["name"]) for item in listed.get("items") or []]
    finally:
        await kube.close()


def kubeconfig_in(words: Sequence[str]) -> str | None:
    for index, word in enumerate(words):
        if word.startswith("--kubeconfig="):
            return word.split("=", 1)[1]
        if word == "--kubeconfig" and index + 1 < len(words):
            return words[index + 1]
    return None


def complete(parser: argparse.ArgumentParser, words: Sequence[str]) -> int:
    """`kubedag __complete WORD...`: the candidates, one a line."""
    for candidate in candidates(parser, words, live_names(kubeconfig_in(words))):
        print(candidate)
    return 0


def kubectl_complete(parser: argparse.ArgumentParser, words: Sequence[str]) -> int:
    """`kubectl_complete-kubedag WORD...`, which kubectl runs for `kubectl kubedag <TAB>`:
    the candidates, then cobra's directive line (4: no file completion when there are
    candidates, 0: the shell's default otherwise)."""
    found = candidates(parser, words, live_names(kubeconfig_in(words)))
    for candidate in found:
        print(candidate)
    print(":4" if found else ":0")
    return 0
