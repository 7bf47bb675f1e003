"""Shell completion (commands/completion.py) over the real parser, with the cluster's names
from a double: subcommands, options, choices, and DAG, run and namespace names in the
namespace the command line gives."""

import pytest

from kubedag import cli
from kubedag.cli import build_parser
from kubedag.commands.completion import SCRIPTS, candidates, kubeconfig_in

CLUSTER = {
    ("dags", "data"): ["etl", "reports"],
    ("dags", None): ["hello"],
    ("dagruns", "data"): ["etl-20260101-0000", "reports-manual-20260102-0000"],
    ("namespaces", None): ["data", "default"],
}


def names(kind: str, namespace: str | None) -> list[str]:
    return CLUSTER.get((kind, namespace), [])


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["te"], ["test"]),
        (["lo"], ["logs"]),
        (["test", ""], ["hello"]),  # the kubeconfig's namespace
        (["test", "-n", "data", ""], ["etl", "reports"]),
        (["test", "--namespace=data", "r"], ["reports"]),
        (["test", "-n", "data", "etl", ""], []),  # one DAG only
        (["logs", "-n", "data", ""], ["etl-20260101-0000", "reports-manual-20260102-0000"]),
        (["clear", "-n", "data", "re"], ["reports", "reports-manual-20260102-0000"]),
        (["mark", "-n", "data", "etl-20260101-0000", ""], ["success", "failed"]),
        (["test", "-n", ""], ["data", "default"]),
        (["plan", "x.yaml", "-o", "y"], ["yaml"]),
        (["test", "--lo"], ["--logical-date"]),
        (["datasets", "t"], ["touch"]),
        (["connection", ""], ["create"]),
        (["validate", ""], []),  # files: the shell's own completion
    ],
)
def test_candidates(words: list[str], expected: list[str]) -> None:
    assert candidates(build_parser(), words, names) == expected


def test_the_kubeconfig_on_the_command_line_is_used() -> None:
    assert kubeconfig_in(["test", "--kubeconfig", "/k", ""]) == "/k"
    assert kubeconfig_in(["test", "--kubeconfig=/k"]) == "/k"
    assert kubeconfig_in(["test", ""]) is None


def test_the_scripts_call_back_for_both_program_names() -> None:
    for script in SCRIPTS.values():
        assert "__complete" in script and "kubectl-kubedag" in script


def test_as_a_kubectl_plugin_the_usage_says_kubectl_kubedag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["/venv/bin/kubectl-kubedag", "test", "--help"])
    with pytest.raises(SystemExit):
        cli.main()
    assert capsys.readouterr().out.startswith("usage: kubectl kubedag test")
