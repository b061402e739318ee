"""Real programs run with libpyalloc.so preloaded and produce exactly the output they
produce under glibc. A program that is not installed fails the test (CI installs them)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

PROGRAMS_DIR = Path(__file__).resolve().parent / "programs"


def run_both(run_process, lib, argv, tmp_path, **kw):
    """Runs argv under glibc and under pyalloc, each in its own fresh directory."""
    results = []
    for name, preload in (("glibc", None), ("pyalloc", lib)):
        cwd = tmp_path / name
        cwd.mkdir()
        results.append(run_process(argv, preload=preload, cwd=cwd, **kw))
    for r in results:
        assert r.returncode == 0, r.describe()
    glibc, pyalloc = results
    assert pyalloc.stdout == glibc.stdout, (
        f"output differs under pyalloc\n--- glibc\n{glibc.stdout[-3000:]}\n"
        f"--- pyalloc\n{pyalloc.stdout[-3000:]}\n{pyalloc.describe()}")
    assert pyalloc.stdout.strip(), "the program printed nothing"
    return pyalloc


def test_python_allocation_heavy_script(run_cmd, lib, tmp_path):
    env = {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}
    probe = run_cmd([sys.executable, "-c",
                         "import ctypes; print(hasattr(ctypes.CDLL(None), 'pyalloc_stats_get'))"],
                        preload=lib, env=env)
    assert probe.stdout.strip() == "True", f"python does not run on pyalloc\n{probe.describe()}"
    result = run_both(run_cmd, lib, [sys.executable, PROGRAMS_DIR / "alloc_heavy.py"], tmp_path, env=env)
    assert "digest" in result.stdout


def sqlite_script():
    lines = ["CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL, data BLOB);",
             "BEGIN;"]
    for i in range(20000):
        name = "name" + str((i * 7919) % 5003) * (1 + i % 3)
        lines.append(f"INSERT INTO t(name, grp, val, data) VALUES "
                     f"('{name}', {i % 37}, {i * 0.5}, zeroblob({i % 200}));")
    lines += [
        "COMMIT;",
        "CREATE INDEX t_grp ON t(grp, val);",
        "CREATE INDEX t_name ON t(name);",
        "SELECT grp, count(*), sum(val), max(length(name)), sum(length(data)) FROM t GROUP BY grp ORDER BY grp;",
        "SELECT count(DISTINCT name) FROM t;",
        "SELECT name, val FROM t WHERE grp = 7 ORDER BY val DESC LIMIT 5;",
        "SELECT a.grp, count(*) FROM t a JOIN t b ON a.name = b.name AND a.id < b.id GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 5;",
        "UPDATE t SET name = upper(name) WHERE id % 5 = 0;",
        "DELETE FROM t WHERE grp > 30;",
        "VACUUM;",
        "SELECT count(*), sum(val), group_concat(DISTINCT substr(name, 1, 5)) FROM t WHERE grp < 3;",
        "PRAGMA integrity_check;",
    ]
    return "\n".join(lines) + "\n"


def test_sqlite3_generated_database(run_cmd, lib, tmp_path, need_program):
    sqlite3 = need_program("sqlite3")
    result = run_both(run_cmd, lib, [sqlite3, "test.db"], tmp_path, input=sqlite_script())
    assert result.stdout.strip().endswith("ok"), result.describe()


def test_gxx_compiles_and_program_runs(run_cmd, lib, tmp_path, need_program):
    gxx = need_program("g++")
    source = PROGRAMS_DIR / "templates.cpp"
    outputs = {}
    for name, preload in (("glibc", None), ("pyalloc", lib)):
        exe = tmp_path / f"templates-{name}"
        build = run_cmd([gxx, "-O2", "-std=c++17", "-o", exe, source], preload=preload)
        assert build.returncode == 0, build.describe()
        run = run_cmd([exe], preload=preload)
        assert run.returncode == 0, run.describe()
        outputs[name] = run.stdout
    assert outputs["pyalloc"] == outputs["glibc"]
    assert outputs["pyalloc"].startswith("registry 1231 ")


def test_coreutils_pipeline(run_cmd, lib, tmp_path, need_program):
    for tool in ("bash", "seq", "cut", "sort", "uniq", "tail"):
        need_program(tool)
    pipeline = ("seq 1 300000 | cut -c1-3 | sort | uniq -c | sort -k1,1n -k2,2 | tail -n 25; "
                "seq 1 50000 | sort -r -n | head -n 3")
    result = run_both(run_cmd, lib, ["bash", "-c", pipeline], tmp_path)
    assert len(result.stdout.splitlines()) == 28


GIT_SCRIPT = r"""
set -e
git init -q -b main repo
cd repo
for i in $(seq 1 30); do
    seq 1 $((i * 100)) > "file$((i % 7)).txt"
    printf 'line %s\n' $(seq 1 $i) >> notes.txt
    git add -A
    git commit -q -m "commit $i"
done
git log --stat --format='%H %an <%ae> %ad %s'
git rev-parse HEAD
git gc -q
git fsck --no-progress
git log --oneline | wc -l
git diff HEAD~10 --stat
"""


def test_git_repository_workflow(run_cmd, lib, tmp_path, need_program):
    need_program("git")
    need_program("bash")
    env = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
           "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path),
           "TZ": "UTC"}
    result = run_both(run_cmd, lib, ["bash", "-c", GIT_SCRIPT], tmp_path, env=env)
    assert "commit 30" in result.stdout


PERL_SCRIPT = r"""
use strict;
my (%h, @a);
for my $i (1 .. 200000) {
    my $k = join('-', $i % 9973, ($i * 7) % 101, 'x' x ($i % 40));
    $h{$k} .= chr(65 + $i % 26);
    push @a, [$i, $k] if $i % 3 == 0;
}
delete $h{$_} for grep { length($_) % 4 == 0 } keys %h;
my @sorted = sort { $a->[1] cmp $b->[1] or $a->[0] <=> $b->[0] } @a;
my $total = 0;
$total += length($h{$_}) for keys %h;
printf "%d %d %s %s\n", scalar(keys %h), $total, $sorted[0][1], $sorted[-1][1];
my $text = join(' ', map { "w" . ($_ % 997) } 1 .. 100000);
my %count;
$count{$_}++ for split / /, $text;
print join(',', map { "$_=$count{$_}" } (sort keys %count)[0 .. 4]), "\n";
"""


def test_perl_hashes_and_sorting(run_cmd, lib, tmp_path, need_program):
    need_program("perl")
    env = {"PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0"}
    run_both(run_cmd, lib, ["perl", "-e", PERL_SCRIPT], tmp_path, env=env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_server_serves_and_shuts_down(lib, tmp_path, need_program):
    """The server alone runs preloaded; redis-cli (plain glibc) drives it over loopback."""
    server, cli = need_program("redis-server"), need_program("redis-cli")
    port = str(free_port())
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYALLOC_OPTIONS")}
    proc = subprocess.Popen(
        [server, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path), "--daemonize", "no"],
        env={**env, "LD_PRELOAD": str(lib)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def redis(*args, input=None):
            return subprocess.run([cli, "-p", port, *args], env=env, input=input, capture_output=True,
                                  text=True, timeout=60)
        for _ in range(100):
            if redis("PING").stdout.strip() == "PONG":
                break
            assert proc.poll() is None, f"redis-server exited: {proc.stdout.read()}"
            time.sleep(0.05)
        else:
            raise AssertionError("redis-server did not answer PING")
        commands = "".join(f"SET key:{i} {'v' * (i % 300)}{i}\nRPUSH list:{i % 50} {i}\n" for i in range(20000))
        commands += "".join(f"DEL key:{i}\n" for i in range(0, 20000, 3))
        fed = redis(input=commands)
        assert fed.returncode == 0, fed.stderr
        assert redis("DBSIZE").stdout.strip() == str(20000 - 6667 + 50)
        assert redis("GET", "key:299").stdout.strip() == "v" * 299 + "299"
        assert redis("LLEN", "list:7").stdout.strip() == "400"
        info = redis("INFO", "memory").stdout
        assert "used_memory:" in info, info
        redis("SHUTDOWN", "NOSAVE")
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"redis-server exited with {proc.returncode}:\n{output[-3000:]}"
    assert "pyalloc" not in output, output[-3000:]
