/* Misuse reports: one line on stderr naming the check, the mutex and the thread, then abort. */
#ifndef KMX_DEBUG_H
#define KMX_DEBUG_H

struct kmutex;

__attribute__((noreturn, cold)) void kmx_misuse(const char *check, const struct kmutex *lock);
/* The same for another object: "kmutex: CHECK (WHAT 0x..., thread N)". */
__attribute__((noreturn, cold)) void kmx_misuse_of(const char *check, const char *what,
						   const void *object);
__attribute__((noreturn, cold)) void kmx_fatal(const char *what);

#endif /* KMX_DEBUG_H */
