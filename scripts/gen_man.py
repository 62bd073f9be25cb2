#!/usr/bin/python3
"""Writes the man pages of valise from its own --help text (one source of truth).

Usage: gen_man.py VALISE OUTDIR

valise(1) from `valise --help`, valise-CMD(1) from `valise CMD --help`, and so
on for nested subcommands (valise-trust-add(1)). The help text's sections
(description, Usage, Positionals, Options, Subcommands) become NAME, SYNOPSIS,
DESCRIPTION, ARGUMENTS, OPTIONS and COMMANDS. Exits 1 naming the command whose
help could not be read or parsed.
"""
import datetime
import os
import subprocess
import sys

TERM_COL = 30  # CLI11 puts an entry's description at this column


def esc(text):
    text = text.replace("\\", "\\e")
    out = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def esc_opt(text):
    return esc(text).replace("-", "\\-")


def parse(help_text, cmd):
    lines = help_text.rstrip("\n").split("\n")
    try:
        u = next(i for i, l in enumerate(lines) if l.startswith("Usage: "))
    except StopIteration:
        sys.exit(f"gen_man: '{cmd} --help' has no 'Usage:' line")
    desc = "\n".join(lines[:u]).strip("\n")
    usage = lines[u][len("Usage: "):]
    sections, name = {}, None
    for line in lines[u + 1:]:
        if not line.strip():
            continue
        if not line.startswith(" ") and line.endswith(":"):
            name = line[:-1]
            sections[name] = []
            continue
        if name is None:
            sys.exit(f"gen_man: '{cmd} --help': text outside a section: {line!r}")
        entries = sections[name]
        if line.startswith(" " * TERM_COL) and entries:
            entries[-1][1].append(line.strip())
        else:
            # The term is padded to TERM_COL; a longer one has its text below.
            if len(line) > TERM_COL and line[TERM_COL - 1] == " " and len(line[:TERM_COL].rstrip()) < TERM_COL - 1:
                term, text = line[:TERM_COL].strip(), line[TERM_COL:].strip()
            else:
                term, text = line.strip(), ""
            entries.append([term, [text] if text else []])
    return desc, usage, sections


def page(prog, desc, usage, sections, version, date):
    title = prog.replace(" ", "-")
    # The first paragraph flows; its first sentence is the NAME line. The
    # rest keeps its layout (the journey, the exit codes).
    paras = desc.split("\n\n", 1) if desc else [prog]
    first = " ".join(paras[0].split())
    summary = first.split(". ")[0].rstrip(".")
    if summary.startswith(prog + ": "):
        summary = summary[len(prog) + 2:]
    rest = paras[1].strip("\n") if len(paras) > 1 else ""
    out = [f'.TH {title.upper()} 1 "{date}" "valise {version}" "valise manual"', ".SH NAME",
           f"{esc_opt(title)} \\- {esc(summary)}", ".SH SYNOPSIS", f".B {esc_opt(usage)}"]
    out += [".SH DESCRIPTION", esc(first)]
    if rest:
        out += [".PP", ".nf", esc(rest), ".fi"]
    headings = {"Positionals": "ARGUMENTS", "Options": "OPTIONS", "Subcommands": "COMMANDS"}
    for sec, entries in sections.items():
        out.append(".SH " + headings.get(sec, esc(sec.upper())))
        for term, text in entries:
            if sec == "Subcommands":
                term_out = f"\\fB{esc(term)}\\fR (see \\fB{esc_opt(title)}\\-{esc_opt(term)}\\fR(1))"
            else:
                term_out = "\\fB" + esc_opt(term) + "\\fR"
            out += [".TP", term_out, esc(" ".join(text))]
    out += [".SH SEE ALSO", "\\fBvalise\\fR(1); the README and docs/ of the valise source."]
    return "\n".join(out) + "\n"


def run(binary, args):
    r = subprocess.run([binary] + args + ["--help"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"gen_man: '{' '.join(['valise'] + args)} --help' exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    ver = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split()[-1]
    stamp = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.datetime.fromtimestamp(int(stamp), datetime.timezone.utc) if stamp else datetime.datetime.now(datetime.timezone.utc)
    date = when.strftime("%Y-%m-%d")
    todo, written = [[]], []
    while todo:
        args = todo.pop(0)
        prog = " ".join(["valise"] + args)
        desc, usage, sections = parse(run(binary, args), prog)
        path = os.path.join(outdir, "-".join(["valise"] + args) + ".1")
        with open(path, "w") as f:
            f.write(page(prog, desc, usage, sections, ver, date))
        written.append(path)
        todo += [args + [t] for t, _ in sections.get("Subcommands", [])]
    print(f"gen_man: wrote {len(written)} pages into {outdir}")


main()
