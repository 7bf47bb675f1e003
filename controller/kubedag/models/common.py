"""Pieces shared by the resource models: base config, conditions, typed strings."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

# Go-style durations ("90s", "5m", "1h30m"), the form Kubernetes APIs use for time spans.
DURATION_PATTERN = r"^(0|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$"


DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# startDate/endDate accept a date ("2026-01-01") or an RFC 3339 time; a value without an offset
# is read in the DAG's timezone, as Airflow reads a naive start_date.
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?$"
)

Duration = Annotated[
    str,
    Field(pattern=DURATION_PATTERN),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]
Timestamp = Annotated[
    datetime,
    WithJsonSchema({"type": "string", "pattern": TIMESTAMP_PATTERN}),
]
# Status times are always written by the controller, in UTC.
StatusTime = Annotated[datetime, WithJsonSchema({"type": "string", "format": "date-time"})]
FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]


class KubeModel(BaseModel):
    """camelCase on the wire, snake_case in Python; attribute docstrings become descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        extra="forbid",
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON form stored in the API: camelCase, no unset (None) fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class KubeObject(KubeModel):
    """A whole resource as the controller reads it, metadata kept as a plain mapping."""

    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", "default"))

    @property
    def generation(self) -> int:
        return int(self.metadata.get("generation", 0))

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(KubeModel):
    """One aspect of the object's state, as the Kubernetes API conventions define it."""

    type: str
    status: ConditionStatus
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = ""
    last_transition_time: StatusTime
    observed_generation: int | None = None


def set_condition(conditions: list[Condition], new: Condition) -> list[Condition]:
    """Replace the condition of new.type, keeping lastTransitionTime when status is unchanged."""
    result: list[Condition] = []
    for old in conditions:
        if old.type != new.type:
            result.append(old)
        elif old.status == new.status:
            new = new.model_copy(update={"last_transition_time": old.last_transition_time})
    result.append(new)
    return sorted(result, key=lambda c: c.type)


def find_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def unchanged_rule(required: str, optional: tuple[str, ...]) -> str:
    """A CEL transition rule: `required` and each of the `optional` fields keep their value
    (an optional field may not be added or removed either)."""
    return " && ".join(
        [
            f"self.{required} == oldSelf.{required}",
            *(
                f"has(self.{f}) == has(oldSelf.{f}) && (!has(self.{f}) || self.{f} == oldSelf.{f})"
                for f in optional
            ),
        ]
    )
