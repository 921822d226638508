/* Stand-in for glibc's build-time config.h: what support/ and the thread tests read. */
#ifndef KMX_GLIBC_SHIM_CONFIG_H
#define KMX_GLIBC_SHIM_CONFIG_H
#include <bits/wordsize.h>
#define __TIMESIZE __WORDSIZE
#endif
