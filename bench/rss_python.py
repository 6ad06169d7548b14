"""An ansible_python_interpreter for `make bench`: runs the real interpreter (BENCH_REAL_PYTHON, default this
one) as a child with the same argv and stdin, then appends the child's peak RSS (getrusage(RUSAGE_CHILDREN)
.ru_maxrss, kB: the largest of it and its waited-for descendants) to the file named by BENCH_RSS_FILE, and exits
with the child's code.

bench/bench_role.py installs it as .build/bench/rss-python, executable, with `#!<the venv python> -IS` as its
first line (isolated and without site: a few ms, and it does not load what it measures). The copy here has no
shebang and no execute bit, as ansible-test sanity's shebang test wants for a file outside plugins/.
"""
import os
import resource
import subprocess
import sys

real = os.environ.get("BENCH_REAL_PYTHON") or sys.executable
code = subprocess.call([real] + sys.argv[1:])
path = os.environ.get("BENCH_RSS_FILE")
if path:
    with open(path, "a") as f:
        f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code if code >= 0 else 128 - code)
