"""Airflow-style templates: the variables Airflow's template context offers, macros, strict
undefined variables and the Jinja sandbox.

Expected values follow Airflow 2.x's templates reference ("Templates reference" docs and
TaskInstance.get_template_context): ds = YYYY-MM-DD of the logical date, ts = its isoformat(),
ts_nodash = %Y%m%dT%H%M%S, ts_nodash_with_tz = ts without '-' and ':', dates are UTC pendulum
datetimes whose str() is ISO 8601 with 'T', task_instance_key_str = dag_id__task_id__ds_nodash,
and with core.dag_run_conf_overrides_params (default True) a run's conf updates params.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kubedag.core.templating import RunContext, TemplateError, render

LOGICAL = datetime(2026, 1, 1, tzinfo=UTC)


def _context(**overrides: Any) -> RunContext:
    values: dict[str, Any] = {
        "dag_name": "etl",
        "run_id": "scheduled__2026-01-01T00:00:00+00:00",
        "run_type": "scheduled",
        "task_name": "load",
        "try_number": 2,
        "logical_date": LOGICAL,
        "data_interval_start": LOGICAL,
        "data_interval_end": LOGICAL + timedelta(days=1),
        "params": {"env": "dev", "limit": 10, "tables": ["a", "b"], "nested": {"k": "v"}},
        "conf": {},
    }
    values.update(overrides)
    return RunContext(**values)


@pytest.fixture
def variables() -> dict[str, Any]:
    return _context().variables()


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{{ ds }}", "2026-01-01", id="ds"),
        pytest.param("{{ ds_nodash }}", "20260101", id="ds_nodash"),
        pytest.param("{{ ts }}", "2026-01-01T00:00:00+00:00", id="ts"),
        pytest.param("{{ ts_nodash }}", "20260101T000000", id="ts_nodash"),
        pytest.param("{{ ts_nodash_with_tz }}", "20260101T000000+0000", id="ts_nodash_with_tz"),
        pytest.param("{{ logical_date }}", "2026-01-01T00:00:00+00:00", id="logical_date"),
        pytest.param(
            "{{ data_interval_start }}", "2026-01-01T00:00:00+00:00", id="data_interval_start"
        ),
        pytest.param(
            "{{ data_interval_end }}", "2026-01-02T00:00:00+00:00", id="data_interval_end"
        ),
        pytest.param(
            "{{ data_interval_end.strftime('%Y-%m-%d') }}",
            "2026-01-02",
            id="data_interval_end-strftime",
        ),
        pytest.param("{{ run_id }}", "scheduled__2026-01-01T00:00:00+00:00", id="run_id"),
        pytest.param("{{ dag.name }}", "etl", id="dag.name"),
        pytest.param("{{ dag.dag_id }}", "etl", id="dag.dag_id"),
        pytest.param("{{ task.name }}", "load", id="task.name"),
        pytest.param("{{ task.task_id }}", "load", id="task.task_id"),
        pytest.param("{{ try_number }}", "2", id="try_number"),
        pytest.param("{{ task_instance_key_str }}", "etl__load__20260101", id="ti_key_str"),
        pytest.param("{{ params.env }}", "dev", id="params-attr"),
        pytest.param("{{ params['limit'] + 1 }}", "11", id="params-item"),
        pytest.param("{{ params.nested.k }}", "v", id="params-nested"),
        pytest.param("{{ params.tables | join(',') }}", "a,b", id="params-list"),
        pytest.param(
            "{{ dag_run.run_id }}", "scheduled__2026-01-01T00:00:00+00:00", id="dag_run.run_id"
        ),
        pytest.param("{{ dag_run.run_type }}", "scheduled", id="dag_run.run_type"),
        pytest.param("{{ dag_run.conf }}", "{}", id="dag_run.conf-empty"),
        pytest.param(
            "{{ dag_run.logical_date }}", "2026-01-01T00:00:00+00:00", id="dag_run.logical_date"
        ),
        pytest.param("{{ macros.ds_add('2026-01-01', 5) }}", "2026-01-06", id="ds_add"),
        pytest.param("{{ macros.ds_add('2026-01-01', -1) }}", "2025-12-31", id="ds_add-negative"),
        pytest.param("{{ macros.ds_add('2028-02-28', 1) }}", "2028-02-29", id="ds_add-leap"),
        pytest.param("{{ macros.ds_add(ds, 31) }}", "2026-02-01", id="ds_add-of-ds"),
        pytest.param(
            "{{ macros.ds_format('2026-01-01', '%Y-%m-%d', '%d/%m/%Y') }}",
            "01/01/2026",
            id="ds_format",
        ),
        pytest.param(
            "{{ macros.ds_format(ds_nodash, '%Y%m%d', '%Y-%m') }}", "2026-01", id="ds_format-nodash"
        ),
        pytest.param(
            "{{ (logical_date + macros.timedelta(days=1)).strftime('%Y-%m-%d') }}",
            "2026-01-02",
            id="timedelta-arithmetic",
        ),
        pytest.param(
            "{{ logical_date + macros.timedelta(hours=6) }}",
            "2026-01-01T06:00:00+00:00",
            id="shifted-date-still-iso",
        ),
        pytest.param(
            "{{ macros.datetime(2026, 3, 4).strftime('%d.%m.%Y') }}",
            "04.03.2026",
            id="macros.datetime",
        ),
        pytest.param(
            "{{ (data_interval_end - data_interval_start).days }}", "1", id="interval-length"
        ),
        pytest.param("{{ params.missing | default('fallback') }}", "fallback", id="default-filter"),
        pytest.param("{{ 'x' if params.missing is defined else 'y' }}", "y", id="is-defined"),
        pytest.param(
            "{% for t in params.tables %}{{ t }}-{{ ds_nodash }} {% endfor %}",
            "a-20260101 b-20260101 ",
            id="for-loop",
        ),
        pytest.param("{# comment #}{{ ds }}", "2026-01-01", id="comment"),
        pytest.param("run {{ ds }} on {{ task.task_id }}", "run 2026-01-01 on load", id="mixed"),
    ],
)
def test_variables_render(variables: Mapping[str, Any], template: str, expected: str) -> None:
    assert render(template, variables) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{{ params.env }}", "prod", id="conf-overrides-param"),
        pytest.param("{{ params.limit }}", "10", id="unrelated-param-kept"),
        pytest.param("{{ params.only_in_conf }}", "yes", id="conf-only-key-visible-in-params"),
        pytest.param("{{ dag_run.conf.env }}", "prod", id="dag_run.conf"),
        pytest.param("{{ dag_run.conf['only_in_conf'] }}", "yes", id="dag_run.conf-item"),
        pytest.param("{{ dag_run.conf.limit | default('none') }}", "none", id="conf-has-no-params"),
    ],
)
def test_conf_overrides_params(template: str, expected: str) -> None:
    variables = _context(conf={"env": "prod", "only_in_conf": "yes"}).variables()
    assert render(template, variables) == expected


@pytest.mark.parametrize(
    ("logical_date", "template", "expected"),
    [
        pytest.param(
            datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            "{{ ds }} {{ ts }}",
            "2025-12-31 2025-12-31T23:00:00+00:00",
            id="east-of-utc-crosses-midnight",
        ),
        pytest.param(
            datetime(2026, 1, 1, 20, 30, tzinfo=timezone(timedelta(hours=-5))),
            "{{ ds_nodash }} {{ ts_nodash }} {{ ts_nodash_with_tz }}",
            "20260102 20260102T013000 20260102T013000+0000",
            id="west-of-utc-crosses-midnight",
        ),
        pytest.param(
            datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "{{ logical_date }}",
            "2026-06-01T06:30:00+00:00",
            id="logical_date-in-utc",
        ),
        pytest.param(
            datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "{{ dag_run.logical_date }}|{{ task_instance_key_str }}",
            "2026-06-01T06:30:00+00:00|etl__load__20260601",
            id="dag_run.logical_date-in-utc",
        ),
    ],
)
def test_non_utc_logical_date_renders_in_utc(
    logical_date: datetime, template: str, expected: str
) -> None:
    variables = _context(
        logical_date=logical_date,
        data_interval_start=logical_date,
        data_interval_end=logical_date,
    ).variables()
    assert render(template, variables) == expected


def test_non_utc_data_interval_renders_in_utc() -> None:
    tz = timezone(timedelta(hours=-8))
    variables = _context(
        data_interval_start=datetime(2025, 12, 31, 16, 0, tzinfo=tz),
        data_interval_end=datetime(2026, 1, 1, 16, 0, tzinfo=tz),
    ).variables()
    rendered = render("{{ data_interval_start }} {{ data_interval_end }}", variables)
    assert rendered == "2026-01-01T00:00:00+00:00 2026-01-02T00:00:00+00:00"


@pytest.mark.parametrize(
    ("template", "name"),
    [
        pytest.param("{{ no_such_variable }}", "no_such_variable", id="top-level"),
        pytest.param("echo {{ not_a_variable }}", "not_a_variable", id="inside-text"),
        pytest.param("{{ params.not_a_param }}", "not_a_param", id="missing-param"),
        pytest.param("{{ dag_run.conf.absent }}", "absent", id="missing-conf-key"),
        pytest.param("{{ macros.no_macro('x') }}", "no_macro", id="missing-macro"),
        pytest.param("{% for x in nothing_here %}{{ x }}{% endfor %}", "nothing_here", id="loop"),
        pytest.param("{{ ds ~ missing_suffix }}", "missing_suffix", id="concatenation"),
    ],
)
def test_unknown_variable_is_an_error_naming_it(
    variables: Mapping[str, Any], template: str, name: str
) -> None:
    with pytest.raises(TemplateError, match=name):
        render(template, variables)


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{{ ds ", id="unclosed-expression"),
        pytest.param("{% if ds %}yes", id="unclosed-block"),
        pytest.param("{{ }}", id="empty-expression"),
        pytest.param("{% endfor %}", id="stray-end"),
        pytest.param("{# unterminated comment", id="unterminated-comment"),
        pytest.param("{{ ds | no_such_filter }}", id="unknown-filter"),
        pytest.param("{{ 1 + }}", id="bad-expression"),
    ],
)
def test_syntax_error_is_a_template_error(variables: Mapping[str, Any], template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, variables)


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{{ ''.__class__.__mro__ }}", id="str-mro"),
        pytest.param("{{ ''.__class__.__mro__[1].__subclasses__() }}", id="subclasses"),
        pytest.param("{{ params.__class__ }}", id="params-class"),
        pytest.param("{{ cycler.__init__.__globals__ }}", id="cycler-globals"),
        pytest.param("{{ lipsum.__globals__ }}", id="lipsum-globals"),
        pytest.param("{{ joiner.__init__.__globals__.os }}", id="joiner-globals"),
        pytest.param("{{ macros.ds_add.__globals__ }}", id="macro-globals"),
        pytest.param("{{ macros.datetime.now.__self__ }}", id="bound-self"),
        pytest.param("{{ dag.__init__ }}", id="dunder-on-object"),
        pytest.param("{{ task.__dict__ }}", id="instance-dict"),
        pytest.param("{{ params | attr('__class__') }}", id="attr-filter"),
        pytest.param("{{ (params | attr('__class__')).__mro__ }}", id="attr-filter-chain"),
        pytest.param("{{ '{0.__class__}'.format(ds) }}", id="str-format"),
        pytest.param("{{ params.tables.append('c') }}", id="list-append"),
        pytest.param("{{ params.tables.pop() }}", id="list-pop"),
        pytest.param("{{ params.update({'env': 'x'}) }}", id="dict-update"),
        pytest.param("{{ params.pop('env') }}", id="dict-pop"),
        pytest.param("{{ params.nested.clear() }}", id="nested-dict-clear"),
        pytest.param("{{ dag_run.conf.setdefault('a', 1) }}", id="conf-setdefault"),
        pytest.param("{% set x = params.tables.append('c') %}done", id="append-in-set"),
        pytest.param("{{ range(200000) | list | length }}", id="huge-range"),
        # Known escapes from Jinja2 sandbox write-ups (SSTI payloads), each refused.
        pytest.param("{{ self.__init__.__globals__ }}", id="self-globals"),
        pytest.param("{{ self._TemplateReference__context }}", id="self-context"),
        pytest.param("{{ ''['__class__'] }}", id="item-dunder"),
        pytest.param("{{ ds|attr('\\x5f\\x5fclass\\x5f\\x5f') }}", id="escaped-underscores"),
        pytest.param("{{ '{0.__globals__}'.format(lipsum) }}", id="format-globals"),
        pytest.param("{{ '{a.__class__}'.format_map({'a': ds}) }}", id="format-map"),
        pytest.param("{{ namespace.__init__.__globals__ }}", id="namespace-globals"),
        pytest.param("{{ range.__globals__ }}", id="range-globals"),
        pytest.param("{{ dict.__base__.__subclasses__() }}", id="dict-base"),
        pytest.param("{{ dict.mro() }}", id="type-mro"),
        pytest.param("{{ (range(3)|map('string')).gi_frame }}", id="generator-frame"),
        pytest.param("{{ (range(3)|map('string')).gi_code }}", id="generator-code"),
        pytest.param("{{ joiner().__call__ }}", id="joiner-call"),
        pytest.param("{{ ti.xcom_pull.__func__ }}", id="method-func"),
        pytest.param("{% for x in [1] %}{{ loop.__class__ }}{% endfor %}", id="loop-class"),
        pytest.param("{{ lipsum.__code__ }}", id="function-code"),
        pytest.param("{% include '/etc/passwd' %}", id="include-file"),
        pytest.param("{% import 'os' as os %}", id="import-module"),
        pytest.param("{% extends '/etc/passwd' %}", id="extends-file"),
        pytest.param("{% from 'os' import environ %}{{ environ }}", id="from-import"),
        pytest.param("{{ environ }}", id="environ"),
        pytest.param("{{ macros.datetime.now() }}", id="clock-now"),
        pytest.param("{{ macros.datetime.utcnow() }}", id="clock-utcnow"),
        pytest.param("{{ logical_date.today() }}", id="clock-today"),
        # Indirect references to str.format (CVE-2024-56326, CVE-2025-27516) and filters
        # that read attributes by name.
        pytest.param("{% set f = '{0.__class__}'.format %}{{ f(ds) }}", id="format-stored"),
        pytest.param("{{ ('{0.__class__}'|attr('format'))(ds) }}", id="format-attr-filter"),
        pytest.param(
            "{{ (['{0.__class__}']|map(attribute='format')|first)(ds) }}", id="format-map-attr"
        ),
        pytest.param("{{ [ds]|unique(attribute='__class__')|list }}", id="unique-attribute"),
        pytest.param("{{ [ds]|sum(attribute='__class__') }}", id="sum-attribute"),
        pytest.param("{{ [lipsum]|selectattr('__globals__')|list }}", id="selectattr-dunder"),
        pytest.param("{{ [lipsum]|map(attribute='__globals__.os')|list }}", id="map-dotted"),
        pytest.param("{{ params|attr('_'*2 ~ 'class' ~ '_'*2) }}", id="built-dunder-name"),
        pytest.param("{{ ''['\\u005f\\u005fclass\\u005f\\u005f'] }}", id="unicode-escapes"),
        pytest.param("{{ ''['\\137\\137class\\137\\137'] }}", id="octal-escapes"),
        pytest.param("{{ ''.\uff3f\uff3fclass\uff3f\uff3f }}", id="fullwidth-underscores"),
        pytest.param("{{ lipsum|attr('__globals__') }}", id="attr-globals"),
        pytest.param("{{ self|attr('__init__') }}", id="self-attr-init"),
        pytest.param(
            "{% macro m() %}{{ caller._func.__globals__ }}{% endmacro %}"
            "{% call m() %}{% endcall %}",
            id="caller-func",
        ),
        pytest.param("{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}", id="macro-func"),
        pytest.param("{% for x in [1] %}{{ loop.cycle.__func__ }}{% endfor %}", id="loop-cycle"),
        pytest.param("{{ namespace()._Namespace__attrs }}", id="namespace-private"),
        pytest.param("{{ nothing.__class__ }}", id="undefined-class"),
        pytest.param("{{ params.items.__self__ }}", id="method-self"),
        pytest.param("{{ (params.items()|map('string')).gi_frame.f_globals }}", id="frame-globals"),
        pytest.param("{{ ds|safe|attr('__html__') }}", id="markup-html"),
        pytest.param("{{ macros.datetime.__module__ }}", id="type-module"),
        pytest.param("{{ macros.datetime.strptime.__self__ }}", id="classmethod-self"),
        pytest.param("{{ macros.json }}", id="macros-json-module"),
        pytest.param("{{ macros.dateutil }}", id="macros-dateutil-module"),
        pytest.param("{{ " + "(" * 400 + "1" + ")" * 400 + " }}", id="deep-brackets"),
        pytest.param("{% if true %}" * 150 + "{% endif %}" * 150, id="deep-blocks"),
        pytest.param("{{ 'x' * 100000000 }}", id="huge-repeat"),
        pytest.param(
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            id="endless-loops",
        ),
    ],
)
def test_sandbox_blocks_escapes_and_mutation(variables: dict[str, Any], template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, variables)
    assert variables["params"]["tables"] == ["a", "b"]
    assert variables["params"]["env"] == "dev"
    assert variables["params"]["nested"] == {"k": "v"}
    assert variables["dag_run"]["conf"] == {}


def test_rendering_cannot_mutate_the_run_context() -> None:
    params: dict[str, Any] = {"tables": ["a", "b"]}
    ctx = _context(params=params, conf={"extra": [1]})
    for template in ("{{ params.tables.append('c') }}", "{{ dag_run.conf.extra.append(2) }}"):
        with pytest.raises(TemplateError):
            render(template, ctx.variables())
    assert params == {"tables": ["a", "b"]}
    assert ctx.conf == {"extra": [1]}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("echo hello", id="plain"),
        pytest.param("echo {", id="single-open-brace"),
        pytest.param("}", id="single-close-brace"),
        pytest.param("awk '{print $1}' file", id="awk"),
        pytest.param("${HOME}/data", id="shell-expansion"),
        pytest.param('{"key": "value"}', id="json"),
        pytest.param("{ ds }", id="single-braces-around-name"),
        pytest.param("%} stray %}", id="stray-block-end"),
        pytest.param("}} stray }}", id="stray-expression-end"),
        pytest.param("line\n", id="trailing-newline"),
    ],
)
def test_non_template_text_is_returned_unchanged(variables: Mapping[str, Any], text: str) -> None:
    assert render(text, variables) == text


@pytest.mark.parametrize("text", ["{{", "echo {{ ds", "{%"], ids=["open", "unfinished", "block"])
def test_unfinished_template_markers_are_errors_not_passthrough(
    variables: Mapping[str, Any], text: str
) -> None:
    with pytest.raises(TemplateError):
        render(text, variables)


def test_non_template_text_needs_no_variables() -> None:
    assert render("echo {", {}) == "echo {"


@pytest.mark.parametrize(
    ("template", "params", "expected"),
    [
        # airflow/macros/__init__.py ds_add: `if not days: return str(ds)` - no parsing at all.
        pytest.param("{{ macros.ds_add(ds_nodash, 0) }}", {}, "20260101", id="ds_add-zero-days"),
        pytest.param(
            "{{ macros.ds_add('2026-1-1', 0) }}", {}, "2026-1-1", id="ds_add-zero-verbatim"
        ),
        # Both macros call strptime(str(ds), ...): a non-string date (e.g. an int param) works.
        pytest.param(
            "{{ macros.ds_format(params.day, '%Y%m%d', '%Y-%m-%d') }}",
            {"day": 20260101},
            "2026-01-01",
            id="ds_format-int",
        ),
    ],
)
def test_macros_take_airflows_input_leniency(
    template: str, params: dict[str, Any], expected: str
) -> None:
    assert render(template, _context(params=params).variables()) == expected


def test_runtime_error_is_a_template_error(variables: Mapping[str, Any]) -> None:
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}", variables)
    with pytest.raises(TemplateError):
        render("{{ macros.ds_add('not-a-date', 1) }}", variables)


def test_same_template_renders_per_variables() -> None:
    # Compiled templates are cached; the result must still follow each call's variables.
    first = _context().variables()
    second = _context(logical_date=datetime(2030, 7, 4, tzinfo=UTC)).variables()
    assert render("{{ ds }}", first) == "2026-01-01"
    assert render("{{ ds }}", second) == "2030-07-04"
    assert render("{{ ds }}", first) == "2026-01-01"


def test_variables_are_fresh_each_call() -> None:
    ctx = _context()
    one = ctx.variables()
    one["params"]["env"] = "changed"
    assert ctx.variables()["params"]["env"] == "dev"
