"""Writes the Engine section of docs/benchmarks.md from the JSON lines of scripts/bench-engine."""
import json, os, platform, re, sys, datetime
results, out, label = sys.argv[1:]
rows = [json.loads(l) for l in open(results) if l.startswith("{")]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
cores = os.cpu_count()
f = lambda v: "∞" if v in (None, float("inf")) or (isinstance(v, float) and v != v) else f"{v:.2f}"
L = [f"### `{label}`, {datetime.date.today()}", "",
     f"- machine: {cores} cores ({cpu}); server, load tool and clients share them",
     "- command: `scripts/bench-engine` (knobs `LEVELS`, `SECONDS_PER_LEVEL`, `ISO_EDITORS`, `CAHIER_BIN`, `CAHIER_LABEL`)", "",
     "Live meeting on a fresh document (thin editors typing 5 characters a second; latency from a commit to another editor receiving it):", "",
     "| worker threads | editors | p50 ms | p99 ms | undelivered or dropped | server CPU % |", "|---|---|---|---|---|---|"]
for r in rows:
    if r.get("scenario") == "live" and "workers" in r:
        if r.get("errors"):
            # The level saturated: editors were dropped ("document busy").
            L.append(f"| {r['workers']} | {r['editors']} | — | — | {r['errors']} dropped: {r.get('first_error', '')[:60]}… | {f(r.get('server_cpu_pct'))} |")
        else:
            L.append(f"| {r['workers']} | {r['editors']} | {f(r['p50_ms'])} | {f(r['p99_ms'])} | {r['undelivered']} | {f(r.get('server_cpu_pct'))} |")
iso = [r for r in rows if "case" in r]
if iso:
    L += ["", "Isolation: one editor's relay on a fresh document, alone and while a meeting types on the paper trace's 259,779-change document:", "",
          "| case | editors | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|"]
    for r in iso:
        L.append(f"| {r['case']} | {r.get('editors', 1)} | {f(r['p50_ms'])} | {f(r['p99_ms'])} | {f(r['max_ms'])} |")
else:
    L += ["", "Isolation: skipped (the paper trace is not beside this clone)."]
section = "\n".join(L) + "\n"
text = open(out).read() if os.path.exists(out) else "# Benchmarks\n"
begin, end = "<!-- engine:begin -->", "<!-- engine:end -->"
if begin not in text:
    text = text.rstrip("\n") + f"\n\n## Engine\n\nWritten by `scripts/bench-engine`; each run adds or replaces its label's block.\n\n{begin}\n{end}\n"
head, rest = text.split(begin, 1)
body, tail = rest.split(end, 1)
blocks = [b for b in re.split(r"(?m)^(?=### )", body.strip("\n")) if b.strip() and not b.startswith(f"### `{label}`")]
blocks.append(section)
open(out, "w").write(head + begin + "\n" + "\n".join(b.rstrip("\n") + "\n" for b in blocks) + end + tail)
