#!/usr/bin/python3
"""Prints a manifest of a real directory tree, one line per entry, for
tests/real_tree_test.sh: path, type, mode, owner, size, sha256, mtime,
xattrs, and hard-link sharing. Walks with directory fds (os.fwalk), so
paths longer than PATH_MAX work.

  tree_manifest.py DIR [--mask-setid] [--no-owner] [--no-xattrs] [--only-user-xattrs]
"""
import hashlib
import os
import stat
import sys


def main():
    top = sys.argv[1]
    opts = set(sys.argv[2:])
    rows = {}
    inodes = {}
    for dirpath, dirnames, filenames, dfd in os.fwalk(top):
        rel_dir = os.path.relpath(dirpath, top)
        for name in dirnames + filenames:
            rel = name if rel_dir == "." else rel_dir + "/" + name
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            mode = stat.S_IMODE(st.st_mode)
            if "--mask-setid" in opts:
                mode &= ~0o7000
            kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
            digest = ""
            if kind == "f":
                h = hashlib.sha256()
                fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
                with os.fdopen(fd, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                digest = h.hexdigest()[:16]
                inodes.setdefault(st.st_ino, []).append(rel)
            elif kind == "l":
                digest = os.readlink(name, dir_fd=dfd)
            owner = "-" if "--no-owner" in opts else "%d:%d" % (st.st_uid, st.st_gid)
            xs = []
            if "--no-xattrs" not in opts:
                try:
                    names = os.listxattr(os.path.join("/proc/self/fd", str(dfd), name), follow_symlinks=False)
                except OSError:
                    names = []
                for x in sorted(names):
                    if "--only-user-xattrs" in opts and not x.startswith(("user.", "system.posix_acl")):
                        continue
                    v = os.getxattr(os.path.join("/proc/self/fd", str(dfd), name), x, follow_symlinks=False)
                    xs.append("%s=%s" % (x, v.hex()))
            size = st.st_size if kind != "d" else 0
            rows[rel] = [kind, "%o" % mode, owner, str(size), digest, str(st.st_mtime_ns),
                         ",".join(xs), str(st.st_nlink) if kind == "f" else "-", st.st_ino]
    # Hard links: each file names the first path (sorted) sharing its inode.
    for rel, r in rows.items():
        ino = r.pop()
        group = sorted(inodes.get(ino, [rel])) if r[0] == "f" else [rel]
        r.append(group[0])
    for rel in sorted(rows):
        print(rel + "\t" + "\t".join(rows[rel]))


main()
