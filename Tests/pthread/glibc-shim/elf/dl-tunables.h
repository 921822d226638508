/* Stand-in for glibc's elf/dl-tunables.h: tunables are internal to glibc; the tests read them
 * only under HAVE_TUNABLES (elision), which a build against the installed glibc leaves unset. */
