#!/usr/bin/env python3
"""Writes fuzz seeds from the recorded transcripts: each session's server stream (prefixed with
a zero byte: no cuts) and a few truncations of it."""
import json, pathlib, sys
here = pathlib.Path(__file__).parent
out = here / "corpus" / "server_reply"
out.mkdir(parents=True, exist_ok=True)
for f in sorted((here.parent / "core/tests/transcripts").glob("*.json")):
    if f.name == "large-result.json":
        continue
    d = json.loads(f.read_text())
    s = bytes.fromhex("".join(c["hex"] for c in d["chunks"] if c["dir"] == "S"))
    for i, cut in enumerate([len(s), len(s) // 2, len(s) // 3]):
        (out / f"{f.stem}-{i}").write_bytes(b"\0" + s[:cut])
print(f"seeds in {out}", file=sys.stderr)
