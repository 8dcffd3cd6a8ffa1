"""The framework: a plain faust-streaming agent that only forwards each event.

It gets Tansu's workarounds (bench/pipelines/faust_tansu.py; the broker's defects are not the
framework's), nothing else.

    python bench/pipelines/framework.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP DATA_DIR [PROFILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

import faust
from faust.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.settings import Settings
from bench.pipelines import faust_tansu


def main() -> None:
    bootstrap, source, target, group, data_dir = sys.argv[1:6]
    profile = sys.argv[6] if len(sys.argv) > 6 else "kafka"
    settings = Settings(bootstrap_servers=bootstrap, broker_profile=profile)
    app = faust.App(
        group,
        broker=f"kafka://{bootstrap}",
        datadir=data_dir,
        web_enabled=False,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        **faust_tansu.faust_overrides(settings),
    )
    faust_tansu.install_transport(app, settings)  # the broker's defects are not faust's
    inputs = app.topic(source, key_serializer="raw", value_serializer="json")
    outputs = app.topic(target, key_serializer="raw", value_serializer="json")

    @app.agent(inputs)
    async def forward(stream: faust.StreamT[dict]) -> None:
        async for key, event in stream.items():
            await outputs.send(key=key, value=event)

    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
