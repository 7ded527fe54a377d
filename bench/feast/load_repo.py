"""
bench:serve's Feast side: writes a local Feast repo (provider local, sqlite online store, file
registry), registers the entities and feature views described by a spec, and writes the spec's rows
into the online store through Feast's SDK. Usage: load_repo.py <repo dir> <spec.json>.

The spec (written by bench/feast.ts from Kaizen's registry and online store):
  {"project": str,
   "entities": [{"name": str, "joinKey": str}],
   "views": [{"name": str, "entity": str, "ttlSeconds": int | null,
              "fields": [{"name": str, "type": "int64" | "float64" | "string" | "bool"}],
              "rows": [{"key": str, "eventTs": ISO str, "values": {field: value}}]}]}
"""

import json
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float64, Int64, String

FEAST_TYPES = {"int64": Int64, "float64": Float64, "string": String, "bool": Bool}
PANDAS_TYPES = {"int64": "int64", "float64": "float64", "string": "object", "bool": "bool"}
EVENT_TS = "event_ts"

FEATURE_STORE_YAML = """\
project: {project}
provider: local
registry: data/registry.db
online_store:
  type: sqlite
  path: data/online.db
entity_key_serialization_version: 3
"""


def main(repo: Path, spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    (repo / "data").mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML.format(project=spec["project"]))

    entities = {
        e["name"]: Entity(name=e["name"], join_keys=[e["joinKey"]], value_type=ValueType.STRING)
        for e in spec["entities"]
    }
    views, frames = [], {}
    for view in spec["views"]:
        entity = entities[view["entity"]]
        fields = view["fields"]
        frame = pd.DataFrame(
            {
                entity.join_key: pd.Series([r["key"] for r in view["rows"]], dtype="object"),
                EVENT_TS: pd.to_datetime([r["eventTs"] for r in view["rows"]], utc=True),
                **{
                    f["name"]: pd.Series(
                        [r["values"][f["name"]] for r in view["rows"]], dtype=PANDAS_TYPES[f["type"]]
                    )
                    for f in fields
                },
            }
        )
        # Feast reads the batch source only to materialize; the rows go straight to the online store
        # below, but the source keeps the repo complete (and `feast materialize` possible).
        source_path = repo / "data" / f"{view['name']}.parquet"
        frame.to_parquet(source_path)
        views.append(
            FeatureView(
                name=view["name"],
                entities=[entity],
                # No TTL in Kaizen (static views): 0, which Feast reads as "never expires".
                ttl=timedelta(seconds=view["ttlSeconds"] or 0),
                schema=[Field(name=f["name"], dtype=FEAST_TYPES[f["type"]]) for f in fields],
                source=FileSource(path=str(source_path), timestamp_field=EVENT_TS),
                online=True,
            )
        )
        frames[view["name"]] = frame

    store = FeatureStore(repo_path=str(repo))
    store.apply([*entities.values(), *views])
    for name, frame in frames.items():
        store.write_to_online_store(name, df=frame)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
