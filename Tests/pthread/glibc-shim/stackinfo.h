/* Stand-in for glibc's stackinfo.h: the stack grows down on every target this runs on. */
#ifndef KMX_GLIBC_SHIM_STACKINFO_H
#define KMX_GLIBC_SHIM_STACKINFO_H
#include <sys/mman.h>
#define _STACK_GROWS_DOWN 1
#define DEFAULT_STACK_PERMS (PROT_READ | PROT_WRITE)
#endif
