#!/usr/bin/env python3
"""Reads a /metrics scrape on stdin with the Prometheus project's own parser
(prometheus_client, from PyPI) and prints its samples as JSON lines:
[name, {labels}, value]. Exits non-zero if the text does not parse.

The integration test `metrics_count_what_happened_in_the_text_format` runs
it, so the format is checked by an implementation that is not doorman's."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    text = sys.stdin.read()
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                print(json.dumps([sample.name, sample.labels, sample.value]))
    except Exception as e:  # the parser raises ValueError and others
        print(f"not the Prometheus text format: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
