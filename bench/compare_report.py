#!/usr/bin/env python3
"""Summarises bench/compare.sh runs: results.tsv and results.md in OUT.

Rows come from OUT/round*/valise.tsv (valise, measured by compare.sh) and
OUT/round*/results.tsv (the peers, measured by ../shared/bench/peers.sh), in
the same columns. For each (tool, operation): the median wall over the
rounds, the CPU seconds of that median run, the largest peak RSS, and the
output bytes noted for it. Then the goals of issue 3 as ratios of medians
taken in the same session, each marked met or not met.

Usage: compare_report.py OUT
"""
import csv
import glob
import os
import re
import statistics
import sys

out = sys.argv[1]


def rows_of(pattern):
    rows = []
    for path in sorted(glob.glob(os.path.join(out, pattern))):
        with open(path) as f:
            rows += list(csv.DictReader(f, delimiter="\t"))
    return rows


def notes():
    text = []
    for path in [os.path.join(out, "notes.txt")] + sorted(glob.glob(os.path.join(out, "round*/notes.txt"))):
        if os.path.exists(path):
            text += open(path).read().splitlines()
    return text


def aggregate(rows):
    groups = {}
    for r in rows:
        if not r.get("wall_s"):
            continue
        groups.setdefault((r["tool"], r["operation"]), []).append(r)
    res = {}
    for key, rs in groups.items():
        rs = sorted(rs, key=lambda r: float(r["wall_s"]))
        med = rs[(len(rs) - 1) // 2]
        walls = [float(r["wall_s"]) for r in rs]
        wall = statistics.median(walls)
        ib = float(med["input_bytes"] or 0)
        cpu_pct = float(med["cpu_pct"] or 0)
        res[key] = dict(tool=key[0], op=key[1], input_bytes=ib, runs=len(rs), wall=wall,
                        walls=walls, mbs=ib / wall / 1e6 if wall > 0 and ib else float(med["MB_s"] or 0),
                        cpu_s=cpu_pct / 100 * float(med["wall_s"]),
                        rss=max(float(r["peak_rss_MB"] or 0) for r in rs), notes=med["notes"])
    return res


main = aggregate(rows_of("round*/valise.tsv") + rows_of("round*/results.tsv"))
small = aggregate(rows_of("small/valise.tsv"))
rss = aggregate(rows_of("rss/valise.tsv"))
nt = notes()


def last_int(pattern):
    v = None
    for line in nt:
        m = re.search(pattern, line)
        if m:
            v = int(m.group(1))
    return v


outputs = {
    ("valise", "pack --parity 2 (8 drives, 6+2)"): last_int(r"on all 8 drives: (\d+) bytes"),
    ("tar+zstd+age", "tar|zstd -1 -T2|age -r"): last_int(r"tar\|zstd -1 -T2\|age output bytes: (\d+)"),
    ("tar+zstd+age", "tar|zstd -3 -T2|age -r"): last_int(r"tar\|zstd -3 -T2\|age output bytes: (\d+)"),
    ("restic", "backup (v2 repo, --compression auto)"): last_int(r"restic repo bytes on disk: (\d+)"),
    ("borg", "create --compression lz4"): last_int(r"borg lz4 repo bytes on disk: (\d+)"),
    ("borg", "create --compression zstd,3"): last_int(r"borg zstd,3 repo bytes on disk: (\d+)"),
    ("par2", "create -r25"): last_int(r"par2 -r25 recovery bytes: (\d+)"),
    ("par2", "create -r10"): last_int(r"par2 -r10 recovery bytes: (\d+)"),
}
data_shards = last_int(r"on the data shards \(parity excluded, k/n of it\): (\d+)")
data_shards3 = last_int(r"on the data shards \(parity excluded, k/n of it\) at level 3: (\d+)")


def get(res, tool, op_prefix):
    for (t, o), v in res.items():
        if t == tool and o.startswith(op_prefix):
            return v
    return None


def fmt_walls(v):
    return "/".join("%.2f" % w for w in v["walls"])


lines = ["tool\toperation\tinput_bytes\truns\twall_median_s\tall_walls\tMB_s\tcpu_s\tpeak_rss_MB\toutput_bytes\tnotes"]
md = ["| tool | operation | input GB | MB/s | wall s (median; all) | CPU s | peak RSS MB | output bytes |",
      "|---|---|---:|---:|---|---:|---:|---:|"]
for res in (main, small, rss):
    for key in sorted(res, key=lambda k: (k[0] != "valise", k)):
        v = res[key]
        if v["tool"] in ("openssl", "zstd", "lz4"):
            continue
        ob = outputs.get(key)
        lines.append("\t".join(str(x) for x in (v["tool"], v["op"], int(v["input_bytes"]), v["runs"],
                                                "%.3f" % v["wall"], fmt_walls(v), "%.1f" % v["mbs"],
                                                "%.2f" % v["cpu_s"], "%.1f" % v["rss"], ob or "", v["notes"])))
        md.append("| %s | %s | %.2f | %.0f | %.2f (%s) | %.1f | %.0f | %s |" % (
            v["tool"], v["op"].replace("|", "\\|"), v["input_bytes"] / 1e9, v["mbs"], v["wall"],
            fmt_walls(v), v["cpu_s"], v["rss"], "{:,}".format(ob) if ob else ""))

goals = []


def goal(name, value, target, higher=True, unit="x", detail="", digits=2):
    if value is None:
        goals.append((name, "not measured", "", detail))
        return
    ok = value >= target if higher else value <= target
    goals.append((name, ("%.*f%s" % (digits, value, unit)) if unit else str(value),
                  "met" if ok else "NOT met", detail))


def ratio(a, b):
    return a["mbs"] / b["mbs"] if a and b and b["mbs"] else None


pack = main.get(("valise", "pack --parity 2 (8 drives, 6+2)"))
tza = get(main, "tar+zstd+age", "tar|zstd -1 -T2|age")
restic_b = get(main, "restic", "backup")
par2 = get(main, "par2", "create -r25")
vk = get(main, "valise", "verify (keyless)")
vkey = get(main, "valise", "verify --identity")
b3 = get(main, "b3sum", "all files (default threads)")
sha = main.get(("sha256sum", "all files"))
rest = get(main, "valise", "restore")
rest_deg = get(main, "valise", "restore, drives")
restic_r = get(main, "restic", "restore")
untar = get(main, "tar+zstd+age", "age -d|zstd -d|tar -x")

goal("pack >= 1.3x tar|zstd -1 -T2|age", ratio(pack, tza), 1.3)
goal("pack >= 3x restic backup", ratio(pack, restic_b), 3)
goal("pack >= 20x par2 create -r25", ratio(pack, par2), 20,
     detail="par2 on a %s-byte slice of the tar.zst" % (int(par2["input_bytes"]) if par2 else "?"))
rb = outputs[("restic", "backup (v2 repo, --compression auto)")]
goal("data-drive bytes <= restic repo bytes (default, zstd -1)", (data_shards / rb) if data_shards and rb else None,
     1.0, higher=False, unit="x", digits=4, detail="valise data shards %s B, restic repo %s B" % (data_shards, rb))
goal("data-drive bytes <= restic repo bytes (--compression 3)", (data_shards3 / rb) if data_shards3 and rb else None,
     1.0, higher=False, unit="x", digits=4, detail="valise data shards %s B, restic repo %s B" % (data_shards3, rb))
goal("keyless verify >= b3sum over the files", ratio(vk, b3), 1.0)
goal("keyed verify >= 3x sha256sum", ratio(vkey, sha), 3)
goal("restore >= 3x restic restore", ratio(rest, restic_r), 3)
goal("restore faster than age -d|zstd -d|tar -x", ratio(rest, untar), 1.0)
goal("restore with 2 drives deleted >= 80% of healthy", ratio(rest_deg, rest), 0.8)
goal("pack peak RSS < 512 MiB", pack["rss"] if pack else None, 512, higher=False, unit=" MiB")
sp = get(small, "valise", "pack")
if sp:
    n = int(re.search(r"pack (\d+) small", sp["op"]).group(1))
    goal("small files > 20,000 files/s", n / sp["wall"], 20000, unit=" files/s")
else:
    goal("small files > 20,000 files/s", None, 20000)
rss_rows = sorted(rss.values(), key=lambda v: v["input_bytes"])
if len(rss_rows) >= 2:
    lo, hi = rss_rows[0], rss_rows[-1]
    goal("pack RSS flat: %s vs %s on disk differ < 10%%" % (lo["op"].split()[1], hi["op"].split()[1]),
         abs(hi["rss"] - lo["rss"]) / lo["rss"] * 100, 10, higher=False, unit="%",
         detail="%.0f MiB vs %.0f MiB" % (lo["rss"], hi["rss"]))
else:
    goal("pack RSS flat 1 GiB vs 8 GiB on disk", None, 10)

md += ["", "| goal | measured | verdict | detail |", "|---|---|---|---|"]
md += ["| %s | %s | %s | %s |" % (g[0].replace("|", "\\|"), g[1], g[2], g[3]) for g in goals]
md += ["", "Notes:", ""] + ["- " + n for n in nt]
lines += [""] + ["goal\t%s\t%s\t%s\t%s" % g for g in goals]
open(os.path.join(out, "results.tsv"), "w").write("\n".join(lines) + "\n")
open(os.path.join(out, "results.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
