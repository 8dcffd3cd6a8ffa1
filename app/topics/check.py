"""Check the declared topics on a broker without creating any (``SEGUE_CREATE_TOPICS=false``,
``segue worker --no-create-topics``, ``segue sink --no-create-topics``).

For estates whose topics are provisioned elsewhere (and whose Segue principal may not create
topics). What would make the worker wrong refuses its start: a topic missing; a co-partitioned
internal topic (customer-events, identity, the store changelogs: records go to them by explicit
partition) whose partition count is not ``SEGUE_PARTITIONS``; a changelog that is not compacted
(or that deletes by age). Everything else that differs from ``topics/topics.yaml`` (an input's
or an output's partition count, retention, message size) is the estate's choice: a warning.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource

from app.settings import Settings
from app.topics.specs import TopicNames, TopicSpec, load_specs

#: names shown in the one line before "and N more"
SHOWN = 3


@dataclass
class CheckReport:
    missing: list[str] = field(default_factory=list)
    #: what else refuses the start, one phrase each
    wrong: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.wrong

    def line(self) -> str:
        """The refusal in one line: what is off and what to do."""
        problems = []
        if self.missing:
            problems.append(f"{_some(self.missing)} missing")
        problems.extend(self.wrong[:SHOWN])
        if len(self.wrong) > SHOWN:
            problems.append(f"{len(self.wrong) - SHOWN} more problems")
        return (
            "topics are not as declared and creating them is off (SEGUE_CREATE_TOPICS=false, "
            f"--no-create-topics): {'; '.join(problems)}; provision them as `segue topics list` "
            "shows (or run `segue topics apply` with the rights to create them) and start again"
        )


def check_topics(
    settings: Settings, needed: Collection[str] | None = None, timeout_s: float = 15.0
) -> CheckReport:
    """Compare the declared topics (those in ``needed``, or all) with the broker's."""
    admin = AdminClient(settings.admin_config())
    specs = [s for s in load_specs(settings) if needed is None or s.name in needed]
    names = TopicNames(settings)
    changelogs = {names.profiles_changelog, names.timers_changelog, names.identity_changelog}
    copartitioned = {names.customer_events, names.identity, *changelogs}
    report = CheckReport()
    existing = admin.list_topics(timeout=timeout_s).topics
    present: list[TopicSpec] = []
    for spec in specs:
        meta = existing.get(spec.name)
        if meta is None:
            report.missing.append(spec.name)
            continue
        if meta.error is not None:  # not allowed to describe it, say
            report.wrong.append(f"{spec.name}: {meta.error.str()}")
            continue
        present.append(spec)
        actual = len(meta.partitions)
        if actual == spec.partitions:
            continue
        if spec.name in copartitioned:
            report.wrong.append(
                f"{spec.name} has {actual} partitions, needs {spec.partitions} "
                "(SEGUE_PARTITIONS: co-partitioned)"
            )
        else:
            report.warnings.append(
                f"{spec.name}: has {actual} partitions, declared {spec.partitions}"
            )
    _check_configs(admin, present, changelogs, report, timeout_s)
    return report


def _check_configs(
    admin: AdminClient,
    specs: list[TopicSpec],
    changelogs: set[str],
    report: CheckReport,
    timeout_s: float,
) -> None:
    if not specs:
        return
    resources = {s.name: ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in specs}
    futures = admin.describe_configs(list(resources.values()), request_timeout=timeout_s)
    for spec in specs:
        try:
            described: dict[str, Any] = futures[resources[spec.name]].result()
        except KafkaException as exc:
            report.warnings.append(f"{spec.name}: configs not checked ({exc.args[0].str()})")
            continue
        values = {k: e.value for k, e in described.items() if e is not None}
        if spec.name in changelogs:
            policies = set((values.get("cleanup.policy") or "").split(","))
            if "compact" not in policies:
                report.wrong.append(
                    f"{spec.name} has cleanup.policy={values.get('cleanup.policy')}, needs compact"
                )
                continue
            if "delete" in policies and values.get("retention.ms") != "-1":
                report.wrong.append(
                    f"{spec.name} has cleanup.policy=compact,delete: state older than "
                    "retention.ms would be lost; needs compact"
                )
                continue
        for key, wanted in spec.configs().items():
            if key == "cleanup.policy" and spec.name in changelogs:
                continue  # checked above
            have = values.get(key)
            if have is not None and have != wanted:
                report.warnings.append(f"{spec.name}: {key} is {have}, declared {wanted}")


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return f"{shown} and {len(names) - SHOWN} more" if len(names) > SHOWN else shown
