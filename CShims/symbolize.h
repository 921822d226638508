/*
 * Code and data addresses as people read them, the way the kernel's %pS prints a symbol:
 * "function+0xoff [object]".  Shared by lockdep's reports and the hung-task watchdog's.
 * dladdr sees only dynamic symbols: a program's own functions and variables have names when
 * it is linked with -rdynamic (static functions never do).  No allocation.
 */
#ifndef KMX_SYMBOLIZE_H
#define KMX_SYMBOLIZE_H

#include <stddef.h>

/* "function+0xoff [object]", "0xaddr [object+0xoff]" without a symbol, or "0xaddr". */
void kmx_symbolize(char *buf, size_t size, const void *ip);

/* For a data address: "&name [object]" ("&name+0xoff" inside it) when a dynamic symbol
 * covers it; else "". */
void kmx_symbolize_data(char *buf, size_t size, const void *addr);

#endif /* KMX_SYMBOLIZE_H */
