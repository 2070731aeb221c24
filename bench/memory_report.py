"""Writes the Memory section of docs/benchmarks.md from the JSON lines of scripts/bench-memory (the last run of each label)."""
import json, os, platform, sys, datetime
results, out = sys.argv[1:]
rows = {}
for l in open(results):
    if l.startswith("{"):
        r = json.loads(l)
        rows[r["label"]] = r
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
m = lambda v: f"{v:.0f}"
L = ["## Memory", "",
     f"Written by `scripts/bench-memory` on {datetime.date.today()}: {os.cpu_count()} cores ({cpu}), release build; "
     "`CAHIER_BIN` and `CAHIER_LABEL` run another build beside it. Every row is the last run of its label "
     "(all runs are kept in `docs/benchmarks-memory.jsonl`).", "",
     "<!-- memory:begin -->",
     "The server's resident set (MiB) at each step of `cahier-bench many`: start; after 10,000 small documents were written "
     "(each unloaded once idle for 10 s); with 1,000 clients connected; with each of them on its own document; after they all closed and the documents were unloaded.", "",
     "| build | documents | clients | start | after writing | connected | loaded | after unload |", "|---|---|---|---|---|---|---|---|"]
for label, r in rows.items():
    L.append(f"| {label} | {r['docs']:,} | {r['clients']:,} | {m(r['rss_start_mib'])} | {m(r['rss_stored_mib'])} | "
             f"{m(r['rss_connected_mib'])} | {m(r['rss_loaded_mib'])} | {m(r['rss_unloaded_mib'])} |")
L += ["", "How to read it. With glibc's allocator the memory freed when documents unload stays in the process: a "
      "`malloc_trim(0)` called from gdb on such a server brought 1.1 GiB down to 128 MiB, so it was free memory, not a leak. "
      "mimalloc (the allocator since this section was written) gives freed pages back as it goes; its eager arena commit is "
      "turned off at build time (`.cargo/config.toml`), which made an idle server 63 MiB instead of 23 MiB. The per-connection and "
      "per-document differences of `cahier-bench many` are left out here: with an allocator that gives memory back while the "
      "clients connect, the difference of two resident sets can be negative.",
      "<!-- memory:end -->"]
section = "\n".join(L) + "\n"
text = open(out).read() if os.path.exists(out) else "# Benchmarks\n"
start = text.find("## Memory\n")
if start >= 0:
    end = text.index("<!-- memory:end -->", start) + len("<!-- memory:end -->")
    text = text[:start] + section.rstrip("\n") + text[end:]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(out, "w").write(text)
print(f"wrote {out}")
