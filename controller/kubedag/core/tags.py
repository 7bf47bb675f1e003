"""A DAG's tags as labels, so `kubectl get dags -l kubedag.io/tag-finance` finds the DAGs
tagged `finance`: the mapping, and the condition that names a tag that cannot map."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from kubedag.models.common import Condition

TAG_LABEL_PREFIX = "kubedag.io/tag-"
TAG_LABEL_VALUE = "true"
MAX_TAG = 63 - len("tag-")  # a label key's name part is at most 63 characters
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
CONDITION = "TagsLabelled"


@dataclass(frozen=True)
class TagLabels:
    labels: dict[str, str]
    """`kubedag.io/tag-<tag>: "true"` for each tag that maps."""
    unmappable: list[str]
    """Why each tag that cannot map does not."""


def tag_labels(tags: Sequence[str] | None) -> TagLabels:
    """Tag `t` is the label `kubedag.io/tag-t` (value "true"), exactly as written (case
    kept), when `tag-t` is a valid label name: at most 59 characters, letters, digits, `-`,
    `_` and `.`, starting and ending with a letter or digit."""
    labels: dict[str, str] = {}
    unmappable: list[str] = []
    for tag in tags or []:
        if len(tag) > MAX_TAG:
            unmappable.append(f"tag {tag!r} is {len(tag)} characters: at most {MAX_TAG} map")
        elif not _LABEL_NAME.match(tag):
            unmappable.append(
                f"tag {tag!r} is not a label name: letters, digits, '-', '_' and '.', starting"
                " and ending with a letter or digit"
            )
        else:
            labels[TAG_LABEL_PREFIX + tag] = TAG_LABEL_VALUE
    return TagLabels(labels, unmappable)


def labels_patch(current: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str | None]:
    """The merge patch of `metadata.labels` that makes the tag labels `wanted` (None removes
    a tag label no longer wanted; other labels are left alone). Empty: nothing to do."""
    patch: dict[str, str | None] = {
        key: None for key in current if key.startswith(TAG_LABEL_PREFIX) and key not in wanted
    }
    patch.update({k: v for k, v in wanted.items() if current.get(k) != v})
    return patch


def tags_condition(
    mapped: TagLabels, has_tags: bool, generation: int, now: datetime
) -> Condition | None:
    """`TagsLabelled`: False naming each tag that cannot map (the DAG runs all the same);
    True when every tag maps; None for a DAG without tags."""
    if not has_tags:
        return None
    if mapped.unmappable:
        return Condition(
            type=CONDITION,
            status="False",
            reason="TagNotALabel",
            message="spec.tags: " + "; ".join(mapped.unmappable) + f" (as {TAG_LABEL_PREFIX}<tag>)",
            last_transition_time=now,
            observed_generation=generation,
        )
    return Condition(
        type=CONDITION,
        status="True",
        reason="Labelled",
        message=f"every tag is a label {TAG_LABEL_PREFIX}<tag>",
        last_transition_time=now,
        observed_generation=generation,
    )
