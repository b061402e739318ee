"""The reference model the fuzzer checks the allocator against.

HeapModel turns calls such as `malloc(thread, size)` into operations for a backend (the
in-process heap, or the preloaded library driven through driver.c), predicts each
outcome (a block, or NULL with a given errno, or an abort for misuse) and, whenever the
backend reports back, checks every property the allocator promises:

  * each live block is aligned as requested and its usable size covers the request;
    without canaries a small block's usable size is one of the documented size classes;
  * no two live blocks overlap, and each still holds the bytes last written to it
    (the backends fill every block with a per-block pattern and verify all of them);
  * calloc memory is zero; realloc keeps the old contents; impossible sizes and
    alignments fail with ENOMEM / EINVAL and leave the heap as it was;
  * the heap's statistics count exactly the live blocks and their slots;
  * misuse (double free, interior-pointer free, overflow into a canary) kills the
    process with SIGABRT and the allocator's one-line report.

Every operation is also recorded as a line of driver.c's script language (`trace`), so a
failing run is a ready-made reproducer, and `replay()` runs such a script through the
model again.
"""
import bisect
import errno as errno_codes
import signal
from dataclasses import dataclass

SIZE_MAX = 2**64 - 1
PTRDIFF_MAX = 2**63 - 1
ALIGN = 16  # the alignment of every block (glibc's MALLOC_ALIGNMENT on x86-64)
CANARY_SIZE = 8
# Sizes the fuzzer draws are either at most POSSIBLE_MAX or at least IMPOSSIBLE_MIN:
# nothing in between can be predicted (it depends on the machine's memory and
# overcommit policy), and 2**57 bytes exceeds even a 57-bit address space.
POSSIBLE_MAX = 64 * 2**20
IMPOSSIBLE_MIN = 2**57
ABORT = -1  # an operation's expectation: the allocator must abort the process

# The documented size classes: 16..128 by 16, then 4 per power of two up to 256 KiB, and
# a fifth an eighth above 1, 2 and 4 KiB.
SPEC_CLASS_SIZES = tuple(sorted(
    tuple(range(16, 129, 16))
    + tuple((1 << b) + k * (1 << (b - 2)) for b in range(7, 18) for k in range(1, 5))
    + tuple((1 << b) + (1 << (b - 3)) for b in (10, 11, 12))
))
# The allocator remembers this many freed large blocks to tell a double free of one
# from the free of a pointer it never handed out (csrc/large.c, PA_LARGE_RECENT).
LARGE_RECENT = 256
# Per-thread quarantine slots (csrc/harden.c, PA_QUARANTINE_SLOTS).
QUARANTINE_SLOTS = 4096


class FuzzFailure(AssertionError):
    """The allocator broke a property; the message says which and at which step."""


class BackendDied(Exception):
    """The process running the operations ended (killed by a signal, or exited)."""

    def __init__(self, returncode, stderr):
        super().__init__("backend died with status %s: %s" % (returncode, stderr.strip()[-2000:]))
        self.returncode = returncode
        self.stderr = stderr


@dataclass
class Op:
    """One operation in driver.c's script language."""

    thread: int
    code: str
    args: tuple
    expect: int = 0  # 0: succeeds; an errno: fails with it; ABORT: the process aborts

    def line(self):
        words = [str(self.thread), self.code] + [str(a) for a in self.args]
        if self.expect:
            words.append("xabort" if self.expect == ABORT else "x%d" % self.expect)
        return " ".join(words)

    @classmethod
    def parse(cls, line):
        words = line.split("#", 1)[0].split()
        expect = 0
        if words[-1].startswith("x"):
            tag = words.pop()
            expect = ABORT if tag == "xabort" else int(tag[1:])
        return cls(int(words[0]), words[1], tuple(int(w) for w in words[2:]), expect)


@dataclass
class Result:
    """What an operation returned: the block (0 for NULL), its usable size, errno (for
    posix_memalign the returned code) and an int return value (malloc_trim)."""

    ptr: int = 0
    usable: int = 0
    err: int = 0
    ret: int = 0


@dataclass
class Report:
    """A backend's answer to sync(): one Result per submitted operation, the violations
    it saw in memory (changed bytes, non-zero calloc memory, ...) and HeapStats."""

    results: list
    violations: list
    stats: "HeapStats"


@dataclass(frozen=True)
class HeapStats:
    """The parts of struct pyalloc_stats the model checks, and the class table."""

    small_count: int
    small_bytes: int
    large_count: int
    large_bytes: int
    class_sizes: tuple
    slab_sizes: tuple

    @classmethod
    def from_cdata(cls, st):
        n = st.nclasses
        return cls(
            small_count=st.small_in_use_count,
            small_bytes=st.small_in_use_bytes,
            large_count=st.large_count,
            large_bytes=st.large_in_use_bytes,
            class_sizes=tuple(st.classes[i].size for i in range(n)),
            slab_sizes=tuple(st.classes[i].slab_size for i in range(n)),
        )


class ClassTable:
    """Which size class the allocator uses for a request: the smallest that holds it (and,
    for an alignment, mirrors pa_class_for_alignment), over the class sizes the library
    itself reports, so the model accounts for the slots the heap really hands out."""

    def __init__(self, sizes, slab_sizes):
        self.sizes = sizes
        self.slab_sizes = slab_sizes
        self.small_max = sizes[-1]

    def index(self, n):
        """The smallest class that holds n bytes (n at most small_max)."""
        return bisect.bisect_left(self.sizes, max(n, 1))

    def for_alignment(self, n, alignment):
        need = max(n, alignment)
        if need > self.small_max:
            return None
        for c in range(self.index(need), len(self.sizes)):
            if self.sizes[c] % alignment == 0 and self.slab_sizes[c] % alignment == 0:
                return c
        return None


@dataclass
class Block:
    id: int
    req: int
    align: int
    small: bool
    slot: int = 0   # bytes the statistics count for it: the class size, or the large usable size
    ptr: int = 0    # 0 until the backend reports it
    usable: int = 0
    freed_at: int = 0  # blocks born before its free (HeapModel.born)

    def extent(self):
        return max(self.req, self.usable)


def next_pow2(n):
    return 1 << max(n - 1, 0).bit_length()


def predictable(n):
    if POSSIBLE_MAX < n < IMPOSSIBLE_MIN:
        raise ValueError("size %d is neither possible nor impossible everywhere" % n)
    return n


class HeapModel:
    """Drives a backend and checks it; see the module docstring.

    backend: an object with `threads`, `options` (name -> value string, as
    pyalloc_option_get reports them), `supports_misuse`, and start() -> HeapStats,
    submit(Op), sync() -> Report (raising BackendDied when the process ended), close().
    """

    def __init__(self, backend, max_batch=32):
        self.backend = backend
        self.threads = backend.threads
        self.max_batch = max_batch
        options = backend.options
        self.canary = options["canary"] == "1"
        quarantine = int(options["quarantine_bytes"]) if options["tcache"] == "1" else 0
        self.quarantine_bytes = quarantine
        self.ops_run = 0
        self.misuse_detected = 0
        self.failed = False
        self._start()

    # ---- lifecycle -----------------------------------------------------------------
    def _start(self):
        self.baseline = self.backend.start()
        self.classes = ClassTable(self.baseline.class_sizes, self.baseline.slab_sizes)
        self.live = {}
        self.freed = {}            # id -> Block, for double frees
        self.born = []             # every block allocated, in order
        self.freed_large = set()   # addresses of large blocks freed so far
        self.large_frees = 0       # upper bound on the allocator's large-free events
        self.next_id = 0
        self.pending = []          # (Op, Block or None) awaiting sync
        self.batch_owner = {}      # block id -> thread that uses it in the pending batch
        self.quarantined = set()   # threads whose quarantine may hold slots
        self.trace = ["s"]         # the script of the current backend process

    def restart(self):
        """Start over in a new process, after an expected abort."""
        self.backend.close()
        self._start()

    def finish(self):
        """Free every live block, check the heap is back to its baseline, and close."""
        try:
            for b in sorted(self.live.values(), key=lambda b: b.id):
                self.free(self.batch_owner.get(b.id, 0), b.id)
            self.sync()
        finally:
            self.backend.close()

    # ---- helpers -------------------------------------------------------------------
    def fail(self, message):
        self.failed = True
        raise FuzzFailure("%s\n  script of the failing process (%d lines):\n    %s" % (
            message, len(self.trace), "\n    ".join(self.trace[-60:])))

    def thread_for(self, block_id, thread):
        """The thread an operation on the block must run on: within one batch a block
        belongs to one thread (threads run a batch concurrently); across batches any."""
        return self.batch_owner.get(block_id, thread)

    def live_ids(self):
        return sorted(self.live)

    def _need(self, n):
        return n + (CANARY_SIZE if self.canary else 0)

    def _small(self, n, align):
        need = self._need(n)
        if align <= ALIGN:
            return need <= self.classes.small_max
        return self.classes.for_alignment(need, align) is not None

    def _slot(self, block):
        if not block.small:
            return block.usable
        if not self.canary:
            return block.usable
        need = self._need(block.req)
        c = self.classes.index(need) if block.align <= ALIGN else self.classes.for_alignment(need, block.align)
        return self.classes.sizes[c]

    def _submit(self, op, block=None):
        self.pending.append((op, block))
        self.backend.submit(op)
        self.trace.append(op.line())
        if op.code != "t":
            self.batch_owner[op.args[0]] = op.thread
        self.ops_run += 1
        if len(self.pending) >= self.max_batch or self.threads == 1:
            self.sync()

    def _new(self, thread, code, args, req, align, expect):
        block_id = self.next_id
        self.next_id += 1
        block = None
        if not expect:
            block = Block(block_id, req, align, self._small(req, align))
            self.live[block_id] = block
            self.born.append(block)
        self._submit(Op(thread, code, (block_id,) + args, expect), block)

    # ---- allocation ----------------------------------------------------------------
    def malloc(self, thread, n):
        self._new(thread, "m", (n,), n, ALIGN, 0 if predictable(n) < IMPOSSIBLE_MIN else errno_codes.ENOMEM)

    def calloc(self, thread, count, n):
        total = count * n
        ok = total <= SIZE_MAX and predictable(total) < IMPOSSIBLE_MIN
        self._new(thread, "c", (count, n), total if ok else 0, ALIGN, 0 if ok else errno_codes.ENOMEM)

    def realloc_null(self, thread, n):
        self._new(thread, "rn", (n,), n, ALIGN, 0 if predictable(n) < IMPOSSIBLE_MIN else errno_codes.ENOMEM)

    def aligned(self, thread, code, alignment, n):
        """memalign ("al"), aligned_alloc ("aa") or posix_memalign ("pm")."""
        # Like glibc, memalign rounds an alignment that is not a power of two up to one.
        effective = max(next_pow2(alignment), ALIGN)
        if code == "pm" and (alignment == 0 or alignment % 8 or alignment & (alignment - 1)):
            expect = errno_codes.EINVAL
        elif alignment > 2**63:
            expect = errno_codes.EINVAL
        elif predictable(n) >= IMPOSSIBLE_MIN or effective >= IMPOSSIBLE_MIN:
            expect = errno_codes.ENOMEM
        else:
            expect = 0
        self._new(thread, code, (alignment, n), n, effective, expect)

    def realloc(self, thread, block_id, n, code="r", count=None):
        """realloc ("r") or, with count, reallocarray ("ra") of a live block."""
        b = self.live[block_id]
        total = n if count is None else count * n
        args = (block_id, n) if count is None else (block_id, count, n)
        if total > SIZE_MAX or predictable(total) >= IMPOSSIBLE_MIN:
            self._submit(Op(thread, code, args, errno_codes.ENOMEM), None)
            return
        if total == 0:
            # glibc's realloc(p, 0) frees p and returns NULL; pyalloc does the same.
            self._freed(thread, b)
            self._submit(Op(thread, code, args), (b, None))
            return
        # The old block may be freed (a move): account for it as a free, which only
        # loosens the quarantine bound and the large-free count.
        if b.small:
            self.quarantined.add(thread)
        else:
            self.large_frees += 1
        moved = Block(block_id, total, ALIGN, self._small(total, ALIGN))
        self.live[block_id] = moved
        self.born.append(moved)
        self._submit(Op(thread, code, args), (b, moved))

    def reallocarray(self, thread, block_id, count, n):
        self.realloc(thread, block_id, n, code="ra", count=count)

    # ---- release and queries -------------------------------------------------------
    def _freed(self, thread, b):
        del self.live[b.id]
        self.freed[b.id] = b
        b.freed_at = len(self.born)
        if b.small:
            self.quarantined.add(thread)
        else:
            self.large_frees += 1

    def free(self, thread, block_id, sized=False):
        b = self.live[block_id]
        self._freed(thread, b)
        self._submit(Op(thread, "fs" if sized else "f", (block_id,)), b)

    def usable(self, thread, block_id):
        self._submit(Op(thread, "u", (block_id,)), self.live[block_id])

    def trim(self, thread, pad):
        # Pending frees on this thread happen before the trim drains its quarantine.
        self.quarantined.discard(thread)
        self._submit(Op(thread, "t", (pad,)))

    # ---- misuse --------------------------------------------------------------------
    def double_free_candidates(self):
        """Freed blocks whose address no live block covers now: freeing one again must
        be reported as a double free (a reused address would be a legitimate free)."""
        self.sync()
        live = [(b.ptr, b.ptr + max(b.extent(), 1)) for b in self.live.values()]
        return sorted(i for i, b in self.freed.items() if not any(lo <= b.ptr < hi for lo, hi in live))

    def _slab_size(self, slot):
        return self.classes.slab_sizes[self.classes.sizes.index(slot)]

    def _rehomed_classes(self, b):
        """The classes b's slab may hold now. An empty slab goes to another class with
        slabs of its size; only the class it held before its last change is remembered,
        so a double free of b then names that class or, after two changes, is an invalid
        free of whatever class holds the slab (README: "Empty slabs change class")."""
        slab = self._slab_size(b.slot)
        later = {x.slot for x in self.born[b.freed_at:] if x.small and x.slot and x.slot != b.slot
                 and self._slab_size(x.slot) == slab}
        if not later:
            return []
        return [s for s in self.classes.sizes if self._slab_size(s) == slab]

    def double_free(self, thread, block_id):
        b = self.freed[block_id]
        rehomed = self._rehomed_classes(b) if b.small else []
        if rehomed:
            expected = ["pyalloc: %s 0x%x (size class %d)" % (what, b.ptr, s)
                        for s in rehomed for what in ("double free", "invalid free")]
        elif b.small or self.large_frees < LARGE_RECENT:
            where = "size class %d" % b.slot if b.small else "large"
            expected = ["pyalloc: double free 0x%x (%s)" % (b.ptr, where)]
        else:
            expected = ["pyalloc: double free 0x%x (large)" % b.ptr, "pyalloc: invalid free 0x%x (no size class)" % b.ptr]
        self._misuse([Op(thread, "df", (block_id,), ABORT)], expected)

    def interior_span(self, block_id):
        """free_interior() accepts offsets 1 <= off < interior_span(block_id): inside
        the block's slot for a small block, inside its usable size for a large one."""
        self.sync()
        b = self.live[block_id]
        return b.slot if b.small else b.usable

    def free_interior(self, thread, block_id, off):
        """free(p + off), a pointer into the middle of a live block."""
        if not 1 <= off < self.interior_span(block_id):
            raise ValueError("offset %d is not inside block %d" % (off, block_id))
        b = self.live[block_id]
        addr = b.ptr + off
        if b.small:
            expected = ["pyalloc: invalid free 0x%x (size class %d)" % (addr, b.slot)]
        else:
            expected = ["pyalloc: invalid free 0x%x (no size class)" % addr]
            if addr in self.freed_large:
                expected.append("pyalloc: double free 0x%x (large)" % addr)
        self._misuse([Op(thread, "fi", (block_id, off), ABORT)], expected)

    def overflow_candidates(self):
        """Live blocks with a canary after them (small blocks, canary option on)."""
        return [i for i, b in sorted(self.live.items()) if b.small] if self.canary else []

    def overflow(self, thread, block_id, nbytes, then, new_size=16):
        """Change nbytes (1..8) bytes past the block's requested size, then free,
        realloc or query it: the allocator must find its canary changed."""
        self.sync()
        b = self.live[block_id]
        detect = {
            "f": Op(thread, "f", (block_id,), ABORT),
            "fs": Op(thread, "fs", (block_id,), ABORT),
            "r": Op(thread, "r", (block_id, new_size), ABORT),
            "u": Op(thread, "u", (block_id,), ABORT),
        }[then]
        expected = ["pyalloc: heap overflow 0x%x (size class %d)" % (b.ptr, b.slot)]
        self._misuse([Op(thread, "ov", (block_id, nbytes)), detect], expected)

    def _misuse(self, ops, expected_lines):
        """Run ops that must make the allocator abort with one of expected_lines."""
        if not self.backend.supports_misuse:
            raise RuntimeError("misuse needs a backend in a child process")
        for op in ops:
            self.trace.append(op.line())
            self.ops_run += 1
            self.backend.submit(op)
        self.trace.append("s")
        try:
            report = self.backend.sync()
        except BackendDied as died:
            if died.returncode != -signal.SIGABRT:
                self.fail("misuse %s: expected SIGABRT, process ended with status %s; stderr:\n%s"
                          % (ops[-1].line(), died.returncode, died.stderr))
            lines = died.stderr.splitlines()
            if not any(e in lines for e in expected_lines):
                self.fail("misuse %s: aborted without the expected report %s; stderr:\n%s"
                          % (ops[-1].line(), " or ".join(map(repr, expected_lines)), died.stderr))
            self.misuse_detected += 1
            self.restart()
            return
        self.fail("misuse %s went undetected (expected %s); the driver reported: %s"
                  % (ops[-1].line(), expected_lines[0], report.violations or "nothing"))

    # ---- checking ------------------------------------------------------------------
    def sync(self):
        """Run the pending batch and check everything; returns nothing, raises
        FuzzFailure on the first broken property."""
        pending, self.pending = self.pending, []
        self.batch_owner = {}
        self.trace.append("s")
        try:
            report = self.backend.sync()
        except BackendDied as died:
            self.fail("the process died: status %s\n%s" % (died.returncode, died.stderr))
        if len(report.results) != len(pending):
            self.fail("backend returned %d results for %d operations" % (len(report.results), len(pending)))
        for (op, blocks), res in zip(pending, report.results):
            self._check_result(op, blocks, res)
        if report.violations:
            self.fail("memory check failed:\n  " + "\n  ".join(report.violations))
        self._check_overlap()
        self._check_stats(report.stats)

    def _check_result(self, op, blocks, res):
        line = op.line()
        if op.code in ("f", "fs", "t", "u"):
            if op.code == "t" and res.ret not in (0, 1):
                self.fail("%s: malloc_trim returned %d" % (line, res.ret))
            if op.code == "u" and res.usable != blocks.usable:
                self.fail("%s: usable size changed from %d to %d" % (line, blocks.usable, res.usable))
            if op.code in ("f", "fs") and not blocks.small:
                self.freed_large.add(blocks.ptr)
            return
        if op.expect:
            if res.ptr or res.err != op.expect:
                self.fail("%s: expected NULL with errno %s, got 0x%x with errno %d"
                          % (line, errno_codes.errorcode[op.expect], res.ptr, res.err))
            return
        if op.code in ("r", "ra"):
            old, block = blocks
            if res.ptr != old.ptr and not old.small:
                self.freed_large.add(old.ptr)
            if block is None:  # realloc to size 0
                if res.ptr:
                    self.fail("%s: realloc to 0 returned 0x%x instead of NULL" % (line, res.ptr))
                return
        else:
            block = blocks
        if not res.ptr:
            self.fail("%s: returned NULL (errno %d)" % (line, res.err))
        if op.code == "pm" and res.ret:
            self.fail("%s: posix_memalign returned %d" % (line, res.ret))
        if res.ptr % block.align:
            self.fail("%s: 0x%x is not aligned to %d" % (line, res.ptr, block.align))
        if res.usable < block.req:
            self.fail("%s: usable size %d < requested %d" % (line, res.usable, block.req))
        block.ptr, block.usable = res.ptr, res.usable
        block.slot = self._slot(block)
        if op.code in ("r", "ra") and res.ptr == old.ptr and old.small and block.small:
            block.slot = old.slot  # resized in place: the slot, hence its class, is the old one
        if block.small and not self.canary:
            # Without canaries a small block's usable size is its slot: a size class,
            # the smallest that fits unless alignment or an in-place realloc chose
            # another.
            if res.usable not in SPEC_CLASS_SIZES:
                self.fail("%s: usable size %d of a small block is not a size class" % (line, res.usable))
            want = min(c for c in SPEC_CLASS_SIZES if c >= block.req)
            if op.code not in ("r", "ra") and block.align == ALIGN and res.usable != want:
                self.fail("%s: a %d-byte request got a %d-byte slot, not the %d-byte class"
                          % (line, block.req, res.usable, want))

    def _check_overlap(self):
        blocks = sorted(self.live.values(), key=lambda b: b.ptr)
        for lo, hi in zip(blocks, blocks[1:]):
            if lo.ptr + lo.extent() > hi.ptr:
                self.fail("block %d [0x%x, +%d) overlaps block %d at 0x%x"
                          % (lo.id, lo.ptr, lo.extent(), hi.id, hi.ptr))

    def _check_stats(self, st):
        base = self.baseline
        small = [b for b in self.live.values() if b.small]
        large = [b for b in self.live.values() if not b.small]
        got = dict(
            small_count=st.small_count - base.small_count,
            small_bytes=st.small_bytes - base.small_bytes,
            large_count=st.large_count - base.large_count,
            large_bytes=st.large_bytes - base.large_bytes,
        )
        want = dict(
            small_count=len(small),
            small_bytes=sum(b.slot for b in small),
            large_count=len(large),
            large_bytes=sum(b.usable for b in large),
        )
        if got["large_count"] != want["large_count"] or got["large_bytes"] != want["large_bytes"]:
            self.fail("stats: large blocks %s, model %s" % (got, want))
        extra_count = got["small_count"] - want["small_count"]
        extra_bytes = got["small_bytes"] - want["small_bytes"]
        if self.quarantine_bytes and self.quarantined:
            # Quarantined slots are out of the pools and not in any cache, so the
            # statistics count them as in use; a thread's quarantine holds at most
            # QUARANTINE_SLOTS slots and quarantine_bytes (one bigger slot alone).
            n = len(self.quarantined)
            limit = n * max(self.quarantine_bytes, self.classes.small_max)
            if not (0 <= extra_count <= n * QUARANTINE_SLOTS and 0 <= extra_bytes <= limit
                    and (extra_count == 0) == (extra_bytes == 0)):
                self.fail("stats: small blocks %s, model %s plus at most %d quarantined bytes"
                          % (got, want, limit))
        elif extra_count or extra_bytes:
            self.fail("stats: small blocks %s, model %s" % (got, want))


def replay(model, lines):
    """Run a script (driver.c's language, e.g. a reproducer's .ops file) through model.

    Operations are mapped back to model calls, so the model predicts and checks them
    just as when they were generated; block ids come out the same because the model
    numbers new blocks in order. Raises FuzzFailure at the first broken property.
    """
    ops = []
    for raw in lines:
        text = raw.split("#", 1)[0].strip()
        if text:
            ops.append(None if text == "s" else Op.parse(text))
    for i, op in enumerate(ops):
        if op is None:
            model.sync()
            continue
        t, a = op.thread, op.args
        if op.expect == ABORT and op.code in ("f", "fs", "r", "u"):
            continue  # the detecting half of an overflow, issued with the `ov` before it
        if op.code == "m":
            model.malloc(t, a[1])
        elif op.code == "c":
            model.calloc(t, a[1], a[2])
        elif op.code == "rn":
            model.realloc_null(t, a[1])
        elif op.code == "r":
            model.realloc(t, a[0], a[1])
        elif op.code == "ra":
            model.reallocarray(t, a[0], a[1], a[2])
        elif op.code in ("al", "aa", "pm"):
            model.aligned(t, op.code, a[1], a[2])
        elif op.code in ("f", "fs"):
            model.free(t, a[0], sized=op.code == "fs")
        elif op.code == "u":
            model.usable(t, a[0])
        elif op.code == "t":
            model.trim(t, a[0])
        elif op.code == "df":
            model.double_free(t, a[0])
        elif op.code == "fi":
            model.free_interior(t, a[0], a[1])
        elif op.code == "ov":
            detect = next((o for o in ops[i + 1:] if o is not None), None)
            if detect is None or detect.expect != ABORT:
                raise ValueError("`ov` without the operation that detects it: %s" % op.line())
            model.overflow(t, a[0], a[1], detect.code, detect.args[1] if detect.code == "r" else 16)
        else:
            raise ValueError("unknown operation in script: %s" % op.line())
