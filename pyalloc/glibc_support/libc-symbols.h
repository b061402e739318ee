/* Stand-in for glibc's include/libc-symbols.h, force-included (-include)
   into every test and support object that pyalloc's glibc test runner
   builds against the installed C library.

   The real header configures the compilation of glibc itself.  Of that,
   the malloc tests and support/ only need what it provides outside the
   library proper: the testsuite module (_ISOMAC, set by the runner for
   the tests in malloc/Makefile's "tests") sees the installed headers
   only, while libsupport and the "tests-internal" programs additionally
   see config.h and the internal declaration macros.  Those macros attach
   hidden aliases inside libc.so; a program outside it calls the exported
   GLIBC_PRIVATE symbols instead, so they expand to nothing.  */

#ifndef _LIBC_SYMBOLS_H
#define _LIBC_SYMBOLS_H 1

#define _GNU_SOURCE 1

#ifndef _ISOMAC
# include <config.h>

# define libc_hidden_proto(name, ...)

/* In glibc's own build the internal wrapper headers make <limits.h>
   visible to every internal source; support/temp_file.c relies on that
   for NAME_MAX.  */
# include <limits.h>
#endif

#endif /* _LIBC_SYMBOLS_H */
