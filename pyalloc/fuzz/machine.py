"""The hypothesis state machine: random sequences of malloc-family calls, checked by
HeapModel after every step.

machine_class() makes one RuleBasedStateMachine subclass per target (in-process heap,
preloaded driver, multi-threaded driver); each has its own name, hence its own entry in
the example database. Settings come from the profiles registered here:

  pyalloc-quick     the normal test run: seconds per target;
  pyalloc-ci        long runs (PYALLOC_FUZZ_PROFILE=ci);
  pyalloc-campaign  the base of `pyalloc fuzz`, which sets max_examples and the database.
"""
import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from .model import PTRDIFF_MAX, SIZE_MAX, SPEC_CLASS_SIZES, FuzzFailure, HeapModel

KiB, MiB = 1 << 10, 1 << 20
MAX_THREADS = 64

_COMMON = dict(
    deadline=None,
    # Steps spawn processes and touch megabytes; slow examples are expected, and the
    # strategies are never filtered.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # The explain phase re-runs a shrunk failure many times per step to annotate it;
    # the reproducer already is the explanation.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.register_profile("pyalloc-quick", max_examples=15, stateful_step_count=25, **_COMMON)
settings.register_profile("pyalloc-ci", max_examples=400, stateful_step_count=80, **_COMMON)
settings.register_profile("pyalloc-campaign", stateful_step_count=80, print_blob=False, **_COMMON)


def profile_settings(name=None):
    """The settings of profile `name` (quick, ci, campaign); by default the one named by
    $PYALLOC_FUZZ_PROFILE, else quick."""
    return settings.get_profile("pyalloc-" + (name or os.environ.get("PYALLOC_FUZZ_PROFILE", "quick")))


# ---- strategies ----------------------------------------------------------------------
# Sizes that no machine can allocate, around each overflow check of the allocator.
IMPOSSIBLE_SIZES = (
    2**57, 2**60, PTRDIFF_MAX - 3 * 4096, PTRDIFF_MAX - 4096, PTRDIFF_MAX, PTRDIFF_MAX + 1,
    2**63 + 4096, SIZE_MAX - 4096, SIZE_MAX - 15, SIZE_MAX,
)


def _offset(base, delta):
    return max(base + delta, 0)


# Off-by-one at a boundary is the classic size-arithmetic bug: the offsets -1, 0 and +1
# are drawn as often as all the others together.
near = st.one_of(st.sampled_from([-1, 0, 1]), st.integers(-16, 16))
# Each branch is a region where allocators go wrong; one_of shrinks towards the first.
small_sizes = st.one_of(
    st.integers(0, 64),
    st.builds(_offset, st.sampled_from(SPEC_CLASS_SIZES), near),
    st.integers(0, 4 * KiB),
    st.builds(_offset, st.sampled_from([4 * KiB * k for k in (1, 2, 3, 4, 8, 16, 64)]), near),
)
sizes = st.one_of(
    small_sizes,
    # Around the largest class: the small/large split, shifted by the canary's 8 bytes.
    st.builds(_offset, st.just(256 * KiB), st.integers(-24, 24)),
    st.integers(256 * KiB, 2 * MiB),
    st.sampled_from(IMPOSSIBLE_SIZES),
)
# (count, size) pairs for calloc and reallocarray: products up to 16 MiB, or overflowing
# size_t, or beyond PTRDIFF_MAX.
OVERFLOWING_PAIRS = ((2**32, 2**32), (SIZE_MAX, 2), (2, 2**63), (3, 2**62), (2**33 + 1, 2**31), (2**20, 2**40))
count_size_pairs = st.one_of(
    st.tuples(st.integers(0, 16), small_sizes),
    st.sampled_from(OVERFLOWING_PAIRS),
)
alignments = st.one_of(
    st.sampled_from([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536, MiB, 4 * MiB]),
    st.integers(1, 5000),  # mostly not powers of two: rounded up, or EINVAL for posix_memalign
    st.sampled_from([2**57, 2**62, 2**63, 2**63 + 1, SIZE_MAX]),
)
thread_ids = st.integers(0, MAX_THREADS - 1)
picks = st.integers(0, 2**16)  # an index into the candidates, reduced modulo their number


def step(when=None, **strategies):
    """A rule (guarded by `when` if given) whose calls the machine records, so that
    minimize() can replay any subsequence of them."""
    def decorate(function):
        def recorded(self, **args):
            self.steps.append((function.__name__, args))
            function(self, **args)
        recorded.__name__ = function.__name__
        recorded.__doc__ = function.__doc__
        recorded.when = when
        recorded.replay = function
        decorated = rule(**strategies)(recorded)
        return precondition(when)(decorated) if when else decorated
    return decorate


class HeapMachine(RuleBasedStateMachine):
    """Rules for every malloc-family entry point; HeapModel checks after each step.

    Subclasses (see machine_class) set make_backend, threads, misuse and on_example.
    """

    make_backend = None
    threads = 1
    misuse = False
    on_example = None   # called with the model after each example
    last_model = None   # the model of the latest example: after a failure, the shrunk one
    last_steps = None   # the (rule, arguments) calls of that example

    def __init__(self):
        super().__init__()
        self.model = HeapModel(self.make_backend())
        self.steps = []
        type(self).last_model = self.model
        type(self).last_steps = self.steps

    def teardown(self):
        if self.model.failed:
            self.model.backend.close()
        else:
            self.model.finish()
        if self.on_example:
            self.on_example(self.model)

    def _t(self, t):
        return t % self.threads

    def _pick(self, ids, pick):
        return ids[pick % len(ids)]

    def has_live(self):
        return bool(self.model.live)

    # ---- allocation ----------------------------------------------------------------
    @step(t=thread_ids, n=sizes)
    def malloc(self, t, n):
        self.model.malloc(self._t(t), n)

    @step(t=thread_ids, pair=count_size_pairs)
    def calloc(self, t, pair):
        self.model.calloc(self._t(t), *pair)

    @step(t=thread_ids, n=sizes)
    def realloc_null(self, t, n):
        self.model.realloc_null(self._t(t), n)

    @step(t=thread_ids, code=st.sampled_from(["al", "aa", "pm"]), alignment=alignments,
          n=st.one_of(small_sizes, sizes))
    def aligned(self, t, code, alignment, n):
        self.model.aligned(self._t(t), code, alignment, n)

    @step(when=has_live, t=thread_ids, pick=picks, n=st.one_of(st.just(0), sizes))
    def realloc(self, t, pick, n):
        block_id = self._pick(self.model.live_ids(), pick)
        self.model.realloc(self.model.thread_for(block_id, self._t(t)), block_id, n)

    @step(when=has_live, t=thread_ids, pick=picks, pair=count_size_pairs)
    def reallocarray(self, t, pick, pair):
        block_id = self._pick(self.model.live_ids(), pick)
        self.model.reallocarray(self.model.thread_for(block_id, self._t(t)), block_id, *pair)

    # ---- release and queries -------------------------------------------------------
    @step(when=has_live, t=thread_ids, pick=picks, sized=st.booleans())
    def free(self, t, pick, sized):
        block_id = self._pick(self.model.live_ids(), pick)
        self.model.free(self.model.thread_for(block_id, self._t(t)), block_id, sized)

    @step(when=has_live, t=thread_ids, pick=picks)
    def usable_size(self, t, pick):
        block_id = self._pick(self.model.live_ids(), pick)
        self.model.usable(self.model.thread_for(block_id, self._t(t)), block_id)

    @step(t=thread_ids, pad=st.sampled_from([0, 4096, MiB]))
    def trim(self, t, pad):
        self.model.trim(self._t(t), pad)

    @step(when=lambda self: self.threads > 1 and self.model.pending)
    def sync(self):
        self.model.sync()

    # ---- misuse (child processes only) -----------------------------------------------
    @step(when=lambda self: self.misuse and self.model.freed, t=thread_ids, pick=picks)
    def double_free(self, t, pick):
        candidates = self.model.double_free_candidates()
        if candidates:
            self.model.double_free(self._t(t), self._pick(candidates, pick))

    @step(when=lambda self: self.misuse and self.model.live, t=thread_ids, pick=picks, where=st.integers(0, 2**32))
    def free_interior(self, t, pick, where):
        block_id = self._pick(self.model.live_ids(), pick)
        span = self.model.interior_span(block_id)
        self.model.free_interior(self._t(t), block_id, 1 + where % max(span - 1, 1))

    @step(when=lambda self: self.misuse and self.model.canary and self.model.live, t=thread_ids, pick=picks,
          nbytes=st.integers(1, 8), then=st.sampled_from(["f", "fs", "r", "u"]), new_size=st.integers(0, 4096))
    def overflow(self, t, pick, nbytes, then, new_size):
        self.model.sync()
        candidates = self.model.overflow_candidates()
        if candidates:
            self.model.overflow(self._t(t), self._pick(candidates, pick), nbytes, then, new_size)


def machine_class(name, make_backend, threads=1, misuse=False, on_example=None):
    """A HeapMachine subclass called `name` whose examples run on make_backend()."""
    return type(name, (HeapMachine,), dict(
        make_backend=staticmethod(make_backend), threads=threads, misuse=misuse,
        on_example=staticmethod(on_example) if on_example else None,
    ))


def _replay(machine_cls, steps):
    """Runs steps on a fresh machine (skipping those whose guard is false there); returns
    the FuzzFailure it ends with, or None."""
    machine = machine_cls()
    try:
        for name, args in steps:
            method = getattr(machine_cls, name)
            if method.when is None or method.when(machine):
                method.replay(machine, **args)
        machine.model.finish()
    except FuzzFailure as failure:
        machine.model.backend.close()
        return failure
    return None


def minimize(machine_cls):
    """Deletes steps of machine_cls's last (failing) example for as long as it still fails,
    halves first, then smaller runs, down to single steps; returns the final FuzzFailure,
    with machine_cls.last_model the model of that run.

    Hypothesis shrinks first, but it draws the on/off switch of each rule lazily inside the
    first step that consults it, so deleting that step shifts every later choice: shrunk
    examples keep a prefix of irrelevant steps. Steps choose their block by index modulo
    the live blocks, so any subsequence is a valid example, and deleting is enough."""
    steps = list(machine_cls.last_steps)
    if _replay(machine_cls, steps) is None:
        return None  # not reproducible in one replay (thread timing): keep hypothesis' example
    chunk = max(len(steps) // 2, 1)
    while True:
        start = 0
        while start < len(steps):
            trial = steps[:start] + steps[start + chunk:]
            if _replay(machine_cls, trial) is not None:
                steps = trial
            else:
                start += chunk
        if chunk == 1:
            break
        chunk //= 2
    return _replay(machine_cls, steps)
