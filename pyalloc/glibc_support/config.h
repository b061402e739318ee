/* The one configure result from glibc's config.h that support/ reads
   when it is built outside glibc: the default scale of test timeouts.
   The runner scales them at run time with the TIMEOUTFACTOR environment
   variable, which support_test_main reads.  */
#define TIMEOUTFACTOR 1
