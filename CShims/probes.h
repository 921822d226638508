/*
 * USDT probes, provider "kmutex" (see docs/observability.md).  Each is one nop in the
 * instruction stream and a note in .note.stapsdt that bpftrace, perf probe and SystemTap read;
 * nothing runs unless a tracer attaches.  The arguments are values the code has in registers
 * anyway, so the probes have no semaphores (a semaphore only pays when an argument is costly).
 *
 * <sys/sdt.h> comes from Debian's systemtap-sdt-dev (scripts/deps.sh installs it).  Where the
 * header is missing (or with -DKMUTEX_NO_PROBES) the probes compile to nothing, the library
 * works the same and the statistics still count: only tracing is gone.
 */
#ifndef KMX_PROBES_H
#define KMX_PROBES_H

#if !defined(KMUTEX_NO_PROBES) && defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define KMX_HAVE_PROBES 1
#endif
#endif

#ifdef KMX_HAVE_PROBES
#define KMX_PROBE1(name, a)    STAP_PROBE1(kmutex, name, a)
#define KMX_PROBE2(name, a, b) STAP_PROBE2(kmutex, name, a, b)
#else
#define KMX_HAVE_PROBES 0
#define KMX_PROBE1(name, a)    do { (void)(a); } while (0)
#define KMX_PROBE2(name, a, b) do { (void)(a); (void)(b); } while (0)
#endif

#endif /* KMX_PROBES_H */
