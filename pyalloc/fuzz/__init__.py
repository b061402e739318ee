"""Property-based fuzzing of the allocator (`pyalloc fuzz`).

model.py     the reference model and the script language of the driver
backends.py  the in-process heap, and the preloaded library driven by driver.c
machine.py   the hypothesis state machine and settings profiles
campaign.py  time-boxed campaigns over profiles and targets, with reproducers
"""
