"""Writes docs/benchmarks.md from the JSON lines cahier-bench printed (scripts/bench)."""
import datetime, glob, gzip, json, os, platform, re, sys

results, out, rss_c, rss_j, ops_path, readers_path, idle_path, profile_path, profile_editors = sys.argv[1:]
rows = [json.loads(l) for l in open(results) if l.strip().startswith("{")]
idle = json.load(open(idle_path)) if os.path.exists(idle_path) else None
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) // 1024 // 1024
L = []
add = L.append


def of(scenario, **kw):
    return [r for r in rows if r.get("scenario") == scenario and all(r.get(k) == v for k, v in kw.items())]


def num(v, fmt="{:.2f}"):
    return "–" if v is None else fmt.format(v)


add("# Benchmarks\n")
add("Written by `scripts/bench` (not part of the test command; it installs wrk and nginx if missing). Timings are measured here, never asserted in tests. Every scenario runs against Cahier and, in the same run on the same machine, against the baseline.\n")
add(f"- date: {datetime.date.today().isoformat()}")
add(f"- machine: {os.cpu_count()} cores ({cpu}), {mem} GiB memory, {platform.system()} {platform.release()}; servers, load tool and baseline share the cores")
add("- command: `scripts/bench` (knobs: `EDITS`, `LIVE_LEVELS`, `LIVE_SECONDS`, `MANY_DOCS`, `MANY_CLIENTS`)")
add("- baseline: the JS automerge-repo 2.5.6 sync server (`bench/js/sync-server.mjs`: WebSocket server adapter, NodeFS storage)")
add("- load tool: `cahier-bench` (Rust, tokio-tungstenite, the automerge-repo protocol); its JSON lines are turned into this page by `bench/report.py`\n")

# Targets summary, filled in below.
summary = []

if idle:
    add("## Idle server\n")
    add("Resident memory right after start, before any client (Cahier with the sample wiki loaded into its store). Target: under 30 MB.\n")
    add("| server | resident MiB |")
    add("|---|---|")
    add(f"| cahier | {idle['cahier_kib'] / 1024:.1f} |")
    add(f"| js | {idle['js_kib'] / 1024:.1f} |\n")
    summary.append(("idle server under 30 MB", f"{idle['cahier_kib'] / 1024:.1f} MiB (JS {idle['js_kib'] / 1024:.1f})", idle["cahier_kib"] / 1024 < 30))

add("## Relay: one editor, one observer, sequential one-character edits\n")
add("Time from the editor's commit to the observer holding the change, over real WebSockets on loopback (`cahier-bench relay`). Both clients are whole Automerge peers. Targets: p50 under 2 ms, p99 under 10 ms.\n")
add("| document | server | edits | p50 ms | p99 ms | max ms | p50 ratio (JS / Cahier) |")
add("|---|---|---|---|---|---|---|")


def relay(label, big):
    for r in of("relay", label=label):
        if (r.get("history", 0) > 1000) == big:
            return r


for big, name in [(False, "fresh"), (True, "paper trace history (259,779 changes)")]:
    c, j = relay("cahier", big), relay("js", big)
    for r in [c, j]:
        if r is None:
            continue
        if r.get("failed"):
            add(f"| {name} | {r['label']} | – | failed | | | |")
            continue
        ratio = f"{j['p50_ms'] / c['p50_ms']:.1f}×" if (r is c and j and not j.get("failed")) else ""
        add(f"| {name} | {r['label']} | {r['edits']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} | {ratio} |")
    if not big and c:
        summary.append(("relay p50 < 2 ms, p99 < 10 ms", f"p50 {c['p50_ms']:.2f} ms, p99 {c['p99_ms']:.2f} ms", c["p50_ms"] < 2 and c["p99_ms"] < 10))
add("")
add(f"Resident memory after the relay runs: Cahier {int(rss_c) // 1024} MiB, JS server {int(rss_j) // 1024} MiB.\n")

if os.path.exists(ops_path) and os.path.getsize(ops_path) > 0:
    add("### Where the time goes on a long history\n")
    add("`cahier-bench ops --preload automerge-paper.json.gz`: the server-side Automerge operations for one keystroke on a document holding the paper trace (automerge 0.12, no network).\n")
    add("```")
    L.extend(l.rstrip() for l in open(ops_path))
    add("```\n")
    add("Applying one change costs tens of milliseconds on this history whatever the batch size (automerge 0.12), and receiving a sync message about ten more. Cahier applies everything that arrives for a document together, so many typists cost one apply per round, not one per keystroke; but a single editor's round trip on a document this long is bound by these library costs.\n")

live = of("live")
if live:
    add("## Live meeting: many editors in one set of minutes\n")
    add("`cahier-bench live`: N editors on one document, each typing 5 characters a second (staggered), for the time given; the latency from an editor's commit to another editor receiving the change, timed by 8 of the editors over everything the others type. When the concurrent traces are beside the clone, the last two editors replay agent 0 of `clownschool` and of `friendsforever` (their positions jumping as real co-writers' do). Editors are thin clients: real Automerge changes in real sync messages, the server's heads acknowledged, but what they receive is not merged locally (a 2-core machine cannot also run 400 browsers); the latency is therefore the server's part. The server must hold every editor's last change afterwards (checked by a whole peer on fresh documents). A level stops the series when p99 passes 1 s or an edit goes undelivered. Targets: 350 editors with p99 under 100 ms; at least 5× the editors the JS server holds at the same p99.\n")
    for hist, name in [(False, "fresh document"), (True, "document holding the paper trace (259,779 changes)")]:
        rs = [r for r in live if not r.get("failed") and (r.get("history", 0) > 1000) == hist]
        fails = [r for r in live if r.get("failed")]
        if not rs:
            continue
        add(f"### {name.capitalize()}\n")
        add("| server | editors | keystrokes | p50 ms | p95 ms | p99 ms | max ms | undelivered | server CPU | server peak MiB | load tool CPU |")
        add("|---|---|---|---|---|---|---|---|---|---|---|")
        held = {}
        for r in rs:
            p99 = r.get("p99_ms")
            ok = p99 is not None and p99 < 100 and not r.get("saturated") and r.get("stored") is not False
            if ok:
                held[r["label"]] = max(held.get(r["label"], 0), r["editors"])
            cpu_s = num(r.get("server_cpu_pct"), "{:.0f}%")
            stored = "" if r.get("stored") is not False else " (not all stored!)"
            add(f"| {r['label']} | {r['editors']} | {r['keystrokes']:,} | {num(r['p50_ms'])} | {num(r['p95_ms'])} | {num(p99)} | {num(r['max_ms'])} | {r['undelivered']}{stored} | {cpu_s} | {r['server_rss_peak_mib']} | {num(r.get('client_cpu_pct'), '{:.0f}%')} |")
        add("")
        hc, hj = held.get("cahier", 0), held.get("js", 0)
        ratio = f"{hc / hj:.1f}×" if hj else ("∞ (the JS server held none)" if hc else "–")
        add(f"Largest number of editors held with p99 under 100 ms: **Cahier {hc}**, JS server {hj} (ratio {ratio}). Levels tried: as listed.\n")
        if not hist:
            summary.append(("live meeting: 350 editors at p99 < 100 ms, ≥ 5× JS", f"Cahier {hc}, JS {hj}", hc >= 350 and (hj == 0 or hc >= 5 * hj)))

if os.path.exists(profile_path) and os.path.getsize(profile_path) > 0:
    add(f"### Where Cahier's time goes with {profile_editors} editors\n")
    add(f"`perf record -F 499` on the server for 20 s of a {profile_editors}-editor level (fresh document); the functions over 2% of the samples:\n")
    add("```")
    L.extend(l.rstrip() for l in open(profile_path))
    add("```\n")
    add("Read with the live-meeting table. The server's sync rounds run on one core (the hub task); the load tool takes about a third of the other. A round shares the change-graph work among peers (one look-up per distinct last sync), so what is left is per peer and per message: comparing, copying and hashing heads (`memcmp`, `memmove`, the hashers, `get_missing_deps`) and allocation. The thin editors never merge, so each one's changes stay a head of the document: every message carries one head per editor (200 heads, 6.4 KB, at 200 editors), where browsers that merge keep a handful. The cost per round therefore grows with editors × heads, about the square of the editors.\n")

ingest = [r for r in of("ingest") if not r.get("failed")]
stored = {(r["label"], r["doc"]): r for r in of("stored")}
if ingest or of("ingest"):
    add("## Editing traces into the server\n")
    add("`cahier-bench ingest`: a real trace replayed keystroke by keystroke (one Automerge change each, as an editor makes them), sent in sync messages of 1,000 changes, each message waiting for the server's acknowledgement (as fast as the server takes them); then the last 300 keystrokes one at a time at 10 per second (time to acknowledgement). A whole peer then fetches the document and checks it ends with the trace's `endContent`. Stored bytes are read after the servers stop (Cahier: the document's chunks in sled; JS: its NodeFS files without sync states), against Automerge's own `save()` of the same document (the floor). Targets: at least 1,000 keystrokes per second per core; stored bytes within 1.5× of `save()`.\n")
    ratios = []
    add("| trace | server | keystrokes | ingest s | keystrokes/s | per server CPU-second | typing p50 ms | typing p99 ms | final text | stored bytes | save() bytes | stored / save() |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in of("ingest"):
        if r.get("failed"):
            add(f"| {r.get('trace')} | {r['label']} | failed | | | | | | | | | |")
            continue
        st = stored.get((r["label"], r["doc"]))
        sb = st["bytes"] if st else None
        ratio = f"{sb / r['save_bytes']:.2f}×" if sb else "–"
        add(f"| {r['trace']} | {r['label']} | {r['keystrokes']:,} | {r['ingest_secs']:.1f} | {r['keystrokes_per_s']:,.0f} | {num(r.get('keystrokes_per_cpu_s'), '{:,.0f}')} | {r['typing_p50_ms']:.1f} | {r['typing_p99_ms']:.1f} | {'equal' if r['final_text_ok'] else 'DIFFERENT'} | {num(sb, '{:,}')} | {r['save_bytes']:,} | {ratio} |")
        if r["label"] == "cahier":
            j = next((x for x in of("ingest", label="js", trace=r["trace"]) if not x.get("failed")), None)
            if j:
                ratios.append(f"{r['trace']}: Cahier takes keystrokes {r['keystrokes_per_s'] / j['keystrokes_per_s']:.1f}× as fast as the JS server, and acknowledges a typed one in {r['typing_p50_ms'] / j['typing_p50_ms']:.2f}× its time (p50)")
        if r["label"] == "cahier" and "paper" in r["trace"]:
            summary.append(("ingest ≥ 1,000 keystrokes/s per core (paper)", f"{num(r.get('keystrokes_per_cpu_s'), '{:,.0f}')} per CPU-second", (r.get("keystrokes_per_cpu_s") or 0) >= 1000))
            if sb:
                summary.append(("stored bytes ≤ 1.5× save() (paper)", ratio, sb <= 1.5 * r["save_bytes"]))
    add("")
    for line in ratios:
        add(f"- {line}.")
    add("")

cold = of("cold")
if cold:
    add("## Cold load of a long document\n")
    add("`cahier-bench push --changes 100000` (the paper trace's first 100,000 keystrokes, one change each), both servers restarted, then `cahier-bench fetch`: the time for a new client to receive the whole document from a server that has it only on disk.\n")
    add("| server | changes | seconds | server resident MiB after |")
    add("|---|---|---|---|")
    for r in cold:
        add(f"| {r['label']} | {r['changes']:,} | {r['secs']:.2f} | {num(r.get('server_rss_mib'), '{:.0f}')} |")
    add("")
    c = next((r for r in cold if r["label"] == "cahier"), None)
    j = next((r for r in cold if r["label"] == "js"), None)
    if c and j:
        add(f"The JS server takes {j['secs'] / c['secs']:.1f}× Cahier's time.\n")

many = of("many")
if many:
    add("## Many documents\n")
    add("`cahier-bench many`: the documents (small minutes, about 300 characters) are written through the sync protocol; the server then sits until its memory stops falling (Cahier here unloads documents idle for 10 s; the JS server never unloads). Then the clients connect (handshake only), then each syncs its own document (so that many are loaded at once), then all close and the server sits again. Memory is the server's resident set, read from `/proc`. Target: at most a fifth of the JS server's memory per loaded document.\n")
    add("| server | documents | clients | start (MiB) | after writing (MiB) | growth while writing, per document (KiB) | per connection (KiB) | per loaded document (KiB) | after unload (MiB) | writing s | opening s |")
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    by = {}
    for r in many:
        if r.get("failed"):
            add(f"| {r['label']} | failed | | | | | | | |")
            continue
        by[r["label"]] = r
        r["kib_per_doc"] = r["kib_per_loaded_doc_and_connection"] - r["kib_per_connection"]
        r["kib_growth"] = (r["rss_stored_mib"] - r["rss_start_mib"]) * 1024 / max(r["docs"], 1)
        add(f"| {r['label']} | {r['docs']:,} | {r['clients']:,} | {r['rss_start_mib']:.0f} | {r['rss_stored_mib']:.0f} | {r['kib_growth']:.1f} | {r['kib_per_connection']:.1f} | {r['kib_per_doc']:.1f} | {r['rss_unloaded_mib']:.0f} | {r['create_secs']:.1f} | {r['open_secs']:.1f} |")
    add("")
    add("Per connection: (memory with the clients connected − memory before) / clients. Per loaded document: (memory with each client on its document − memory before) / clients, less the connection's share. Both are differences of the resident set, so memory the allocator kept from earlier steps can hide part of them; the JS server never unloads, so its documents stay loaded throughout.\n")
    add("How to read it. While writing, each document is loaded (Cahier unloads it once idle), each through its own connection: the growth while writing, per document, is the like-for-like figure of this run. Cahier's memory does not fall back after unloading: its own counters (`/metrics`) show no document loaded and no connection, but glibc's allocator keeps the freed pages for reuse (a second and a third burst of 2,000 documents grew it by about 5 KiB per document, not by the first burst's amount). The last step's per-loaded-document figure reuses those pages, so it is a lower bound. Measuring from a restarted server, and giving freed memory back (an allocator that returns it, or trimming), are the next steps.\n")
    if "cahier" in by and "js" in by and by["js"]["kib_per_doc"] > 0:
        c, j = by["cahier"]["kib_per_doc"], by["js"]["kib_per_doc"]
        add(f"Per loaded document, Cahier uses {c / j:.2f}× the JS server's memory; per connection {by['cahier']['kib_per_connection'] / max(by['js']['kib_per_connection'], 0.001):.2f}×.\n")
        gc, gj = by["cahier"]["kib_growth"], by["js"]["kib_growth"]
        summary.append(("memory per loaded document ≤ 1/5 of JS", f"growth while writing {gc:.0f} vs {gj:.0f} KiB per document ({gc / max(gj, 0.001):.2f}×); last step {c:.1f} vs {j:.1f} KiB", gc <= gj / 5 and c <= j / 5))

readers = [l.split() for l in open(readers_path) if l.strip()] if os.path.exists(readers_path) else []
add("## Readers: a published page\n")
if len(readers) == 2:
    by = {r[0]: r for r in readers}
    c, n = by["cahier"], by["nginx"]
    add("`wrk -t2 -c32 -d10s --latency` on `/wiki/ecoles-ouvertes` (a sample page, server-rendered HTML, uncompressed), against nginx serving the same bytes as a static file on the same machine (the physical limit here). Both servers and wrk share the 2 cores. Target: at least half of nginx.\n")
    add("| server | requests/s | p99 latency | share of nginx |")
    add("|---|---|---|---|")
    for r in (c, n):
        add(f"| {r[0]} | {float(r[1]):,.0f} | {r[2]} | {float(r[1]) / float(n[1]):.0%} |")
    add("")
    share = float(c[1]) / float(n[1])
    summary.append(("readers ≥ half of nginx", f"{share:.0%}", share >= 0.5))
else:
    add("Skipped on this run: it needs `wrk` and `nginx`.\n")

search = next((r for r in rows if r.get("scenario") == "search"), None)
if search:
    add("## Search on a large wiki\n")
    add(f"`cahier-bench search --pages {search['pages']}`: the server's index (tantivy in memory, French stemming) over {search['pages']:,} pages of 300 words each (words of the sample wiki, shuffled); {search['queries']} one- and two-word queries, top 20 with snippets. Target: under 50 ms.\n")
    add("| pages | indexing s | p50 ms | p99 ms | max ms |")
    add("|---|---|---|---|---|")
    add(f"| {search['pages']:,} | {search['indexing_s']:.1f} | {search['p50_ms']:.2f} | {search['p99_ms']:.2f} | {search['max_ms']:.2f} |\n")

add("## The web editor's bundle\n")
add("`npm run --prefix web build` (Vite), the files a browser downloads for the editor, compressed with gzip -9 as a server would send them (the WebAssembly is Automerge).\n")
add("| file | bytes | gzip bytes |")
add("|---|---|---|")
total = [0, 0]
for f in sorted(glob.glob("web/dist/app/assets/*")):
    if f.endswith(".map"):
        continue
    raw = open(f, "rb").read()
    gz = len(gzip.compress(raw, 9))
    total[0] += len(raw)
    total[1] += gz
    add(f"| `{os.path.basename(f)}` | {len(raw):,} | {gz:,} |")
add(f"| **total** | {total[0]:,} | {total[1]:,} |\n")

head = ["## Targets at a glance\n", "| target | measured | met |", "|---|---|---|"]
head += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in summary]
head.append("\nWhere a target is missed, the section below says why, as far as this run shows.\n")
i = next(k for k, l in enumerate(L) if l.startswith("## "))
L[i:i] = head
# Sections another script writes (a heading, then a block between
# `<!-- NAME:begin -->` and `<!-- NAME:end -->`, as scripts/bench-engine and
# scripts/bench-memory write them) are kept as they are.
if os.path.exists(out):
    prev = open(out).read()
    for m in re.finditer(r"(?m)^## [^\n]*\n(?:(?!## )[^\n]*\n)*?<!-- ([\w-]+):end -->", prev):
        L.append("")
        L.append(m.group(0).rstrip("\n"))
open(out, "w").write("\n".join(L) + "\n")
print(f"wrote {out}")
