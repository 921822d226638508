/*
 * lockdep and lock_stat for the drop-in's objects: how an unmodified program's mutex gets a
 * lock class and a name (the program cannot annotate).  The tests that decide whether a tool
 * is on are inline in dropin.h; this is the work done when one is.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "dropin.h"
#include "lock_class.h"

/* "function+0xoff [object]" for the code address ip, into buf (no allocation). */
static void ld_symbolize(char *buf, size_t size, const void *ip)
{
	Dl_info info;
	const char *obj;

	if (!dladdr(ip, &info) || !info.dli_fname) {
		snprintf(buf, size, "%p", ip);
		return;
	}
	obj = strrchr(info.dli_fname, '/');
	obj = obj ? obj + 1 : info.dli_fname;
	if (info.dli_sname)
		snprintf(buf, size, "%s+0x%lx [%s]", info.dli_sname,
			 (unsigned long)((const char *)ip - (const char *)info.dli_saddr), obj);
	else
		snprintf(buf, size, "%s+0x%lx", obj,
			 (unsigned long)((const char *)ip - (const char *)info.dli_fbase));
}

/*
 * The lock class of a pthread mutex: the mutex itself, one incarnation of it.  The key is an
 * interned "mutex 0x... #n first locked at main+0x2a [prog]", made on the first lock with
 * lockdep on (n counts incarnations) and kept in kmutex.name, which every initializer zeroes
 * (PTHREAD_MUTEX_INITIALIZER, pthread_mutex_init, mtx_init, a C++ constructor).  So:
 *  - no two mutexes share a class.  The kernel shares one per mutex_init() call site and
 *    asks for kmutex_lock_nested() where two of a class nest; an unmodified program cannot
 *    annotate, and a per-site class would turn every parent/child or hand-over-hand nesting,
 *    and every mutex behind a lock or init wrapper, into "recursive locking".  The price: an
 *    inversion is found between the same two mutexes, not between any two of a kind.
 *  - memory reused for a new mutex (freed without pthread_mutex_destroy, as libstdc++'s
 *    std::mutex is, or destroyed and initialized again) is a new class, so the old mutex's
 *    edges cannot make a false cycle with the new one's, even when one wrapper locks both.
 *  - each incarnation that is locked costs lockdep a class (a node) for good: a program
 *    that locks more than lockdep.c's MAX_NODES (8192) mutexes in its life makes lockdep say
 *    "too many lock classes" and turn itself off (it never reports falsely for it).
 * The string is made with dladdr and snprintf into a stack buffer and interned in mmap'd
 * memory under a wait_lock (lock_class.c): no malloc, no pthread mutex, inside the lock.
 */
static uint32_t ld_incarnations; /* mutexes and rwlocks named so far; atomic */

/* slot: the object's name field (kmutex.name, krwsem.name); what: "mutex" or "rwlock". */
static const char *ld_class_of(const char **slot, const void *obj, const char *what, const void *ip)
{
	/* ACQUIRE pairs with the RELEASE cmpxchg below: the interned string is readable. */
	const char *name = kmx_load(slot, KMX_ACQUIRE), *mine;
	char site[160], buf[224];

	if (kmx_likely(name != NULL))
		return name;
	ld_symbolize(site, sizeof(site), ip);
	/* RELAXED: only a distinct number is needed; it orders nothing. */
	snprintf(buf, sizeof(buf), "%s %p #%u first locked at %s", what, obj,
		 kmx_add_return(&ld_incarnations, 1, KMX_RELAXED), site);
	mine = kmx_class_intern(buf);
	/* RELEASE publishes the string.  Two first lockers agree on the winner's class; the
	 * loser's failed compare is a relaxed load, so it reloads with ACQUIRE (as above). */
	if (kmx_try_cmpxchg(slot, &name, mine, KMX_RELEASE))
		return mine;
	return kmx_load(slot, KMX_ACQUIRE);
}

static const char *ld_class(struct kmutex *lock, const void *ip)
{
	return ld_class_of(&lock->name, lock, "mutex", ip);
}

/* lockdep on: the calling thread is about to take lock (flags: KMX_LD_*), or has (trylock). */
void tools_lockdep_acquire(struct kmutex *lock, unsigned flags, const void *ip)
{
	const char *class = ld_class(lock, ip);

	kmx_lockdep_acquire(lock, class, class, 0, flags, ip);
}

/*
 * With statistics on, a mutex is named after the code that first locks it ("first locked at
 * main+0x2a [prog]"), interned, so all mutexes first locked at one place share a row of the
 * report, as the kernel's classes share a mutex_init() site.  With lockdep on too, lockdep's
 * per-mutex class (ld_class()) names it instead: one name field serves both.
 */
/* The statistics' name, "first locked at ...", in slot unless it has one (see above). */
static void stat_name_of(const char **slot, const void *ip)
{
	const char *none = NULL;
	char site[160], buf[200];

	ld_symbolize(site, sizeof(site), ip);
	snprintf(buf, sizeof(buf), "first locked at %s", site);
	/* RELEASE publishes the interned string, as in ld_class_of(); a loser keeps the winner's. */
	(void)kmx_try_cmpxchg(slot, &none, kmx_class_intern(buf), KMX_RELEASE);
}

void tools_stat_name(struct kmutex *lock, const void *ip)
{
	if (kmx_likely(!kmx_stat_enabled()) || kmx_load(&lock->name, KMX_RELAXED))
		return;
	if (kmx_lockdep_enabled()) {
		(void)ld_class(lock, ip);
		return;
	}
	stat_name_of(&lock->name, ip);
}

/*
 * An rwlock's krwsem, named the same way before its first lock with lockdep or statistics on
 * (rwlock.c): the core's tools key and count krwsems by krwsem.name, which every initializer
 * of a pthread_rwlock_t zeroes (offset 32: glibc's __rwelision and padding).
 */
void tools_rwlock_name(struct krwsem *sem, const void *ip)
{
	if (kmx_load(&sem->name, KMX_RELAXED))
		return;
	if (kmx_lockdep_enabled())
		(void)ld_class_of(&sem->name, sem, "rwlock", ip);
	else if (kmx_stat_enabled())
		stat_name_of(&sem->name, ip);
}

/* Statistics on: an acquisition counted, the mutex named if this is its first. */
void tools_stat_acquired(struct kmutex *lock, const void *ip)
{
	tools_stat_name(lock, ip);
	kmx_stat_acquired(lock);
}
